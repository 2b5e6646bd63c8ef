pub use dfshm::version;
