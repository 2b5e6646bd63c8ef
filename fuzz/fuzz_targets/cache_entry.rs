//! Feeds arbitrary bytes to the result cache's entry reader: it must answer with an error or an
//! entry, never panic or read out of bounds.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    dfshm::cache::fuzz_decode_entry(data);
});
