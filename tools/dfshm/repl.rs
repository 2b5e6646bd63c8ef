//! The interactive prompt: statements end with `;`, may span lines, and an error keeps the session.
//!
//! On a terminal it edits lines with rustyline and keeps history in `~/.dfshm_history`; with
//! stdin piped it reads lines the same way without prompts and exits with status 1 if any
//! statement failed.

use crate::{Output, ScriptStop, Source, run_script};
use dfshm::Engine;
use rustyline::DefaultEditor;
use rustyline::error::ReadlineError;
use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

const HELP: &str = "\
Statements end with `;` and may span several lines. Meta commands:
  \\d         list tables
  \\d NAME    describe table NAME
  \\?         this help
  \\q         quit (also `quit`, `exit` or Ctrl-D)";

const PROMPT: &str = "dfshm> ";
const CONTINUATION: &str = "    -> ";

/// A source of input lines.
enum Lines {
    Terminal {
        editor: Box<DefaultEditor>,
        history: Option<std::path::PathBuf>,
    },
    Piped(std::io::Lines<std::io::StdinLock<'static>>),
}

enum Line {
    Text(String),
    /// Ctrl-C at the prompt: drop what was typed so far.
    Interrupted,
    End,
}

impl Lines {
    fn open() -> Lines {
        if std::io::stdin().is_terminal()
            && let Ok(mut editor) = DefaultEditor::new()
        {
            let history = dirs::home_dir().map(|home| home.join(".dfshm_history"));
            if let Some(path) = &history {
                let _ = editor.load_history(path);
            }
            return Lines::Terminal {
                editor: Box::new(editor),
                history,
            };
        }
        Lines::Piped(std::io::stdin().lock().lines())
    }

    fn next(&mut self, continuing: bool) -> Line {
        match self {
            Lines::Terminal { editor, .. } => {
                match editor.readline(if continuing { CONTINUATION } else { PROMPT }) {
                    Ok(line) => Line::Text(line),
                    Err(ReadlineError::Interrupted) => Line::Interrupted,
                    Err(ReadlineError::Eof) => Line::End,
                    Err(error) => {
                        eprintln!("Error: cannot read input: {error}");
                        Line::End
                    }
                }
            }
            Lines::Piped(lines) => match lines.next() {
                Some(Ok(line)) => Line::Text(line),
                Some(Err(error)) => {
                    eprintln!("Error: cannot read stdin: {error}");
                    Line::End
                }
                None => Line::End,
            },
        }
    }

    fn remember(&mut self, entry: &str) {
        if let Lines::Terminal { editor, .. } = self {
            let _ = editor.add_history_entry(entry);
        }
    }

    fn is_terminal(&self) -> bool {
        matches!(self, Lines::Terminal { .. })
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        if let Lines::Terminal {
            editor,
            history: Some(path),
        } = self
        {
            let _ = editor.save_history(path);
        }
    }
}

/// Runs the prompt until `\q` or end of input.
pub async fn run(engine: &Engine, output: Output) -> ExitCode {
    let output = &output;
    let mut lines = Lines::open();
    if lines.is_terminal() && !output.quiet {
        let remote = match engine.remote_workers() {
            0 => String::new(),
            count => format!(", {count} remote"),
        };
        eprintln!(
            "dfshm {} (DataFusion, {} worker(s){remote}). \\? for help, \\q to quit.",
            dfshm::version(),
            engine.workers()
        );
    }
    let mut buffer = String::new();
    let mut failed = false;
    let mut interrupted = false;
    loop {
        let line = match lines.next(!buffer.is_empty()) {
            Line::Text(line) => line,
            // Ctrl-C drops the statement being typed; on an empty line twice in a row, it exits.
            Line::Interrupted if buffer.is_empty() && interrupted => {
                return ExitCode::from(crate::interrupt::EXIT_INTERRUPTED);
            }
            Line::Interrupted => {
                if buffer.is_empty() {
                    eprintln!("(Ctrl-C again, \\q or Ctrl-D exits)");
                }
                buffer.clear();
                interrupted = true;
                continue;
            }
            Line::End => break,
        };
        interrupted = false;
        let trimmed = line.trim();
        if buffer.is_empty() {
            if trimmed.is_empty() {
                continue;
            }
            if let Some(command) = trimmed.strip_prefix('\\') {
                lines.remember(trimmed);
                match meta_command(engine, command, output).await {
                    Meta::Quit => break,
                    Meta::Ok => {}
                    Meta::Failed => failed = true,
                }
                continue;
            }
            if matches!(trimmed.to_ascii_lowercase().as_str(), "quit" | "exit") {
                break;
            }
        }
        buffer.push_str(&line);
        buffer.push('\n');
        if trimmed.ends_with(';') {
            lines.remember(buffer.trim_end());
            let script = std::mem::take(&mut buffer);
            if !execute(engine, &script, output).await {
                failed = true;
            }
        }
    }
    if !buffer.trim().is_empty() && !execute(engine, &buffer, output).await {
        failed = true;
    }
    if failed && !lines.is_terminal() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Runs a script from the prompt; returns false when it failed.
async fn execute(engine: &Engine, script: &str, output: &Output) -> bool {
    match run_script(engine, &Source::Prompt, script, output).await {
        Ok(()) | Err(ScriptStop::OutputClosed) => true,
        // Cancelled with Ctrl-C: the session goes on, and a cancellation is not a failure.
        Err(ScriptStop::Failed(error)) if dfshm::is_cancelled(&error.error) => {
            eprintln!("Query cancelled.");
            true
        }
        Err(ScriptStop::Failed(error)) => {
            eprintln!("{error}");
            false
        }
    }
}

enum Meta {
    Ok,
    Failed,
    Quit,
}

async fn meta_command(engine: &Engine, command: &str, output: &Output) -> Meta {
    let mut words = command.split_whitespace();
    let sql = match (words.next(), words.next()) {
        (Some("q"), None) => return Meta::Quit,
        (Some("?" | "h"), None) => {
            eprintln!("{HELP}");
            return Meta::Ok;
        }
        (Some("d"), None) => "select table_catalog, table_schema, table_name, table_type \
             from information_schema.tables where table_schema <> 'information_schema' \
             order by table_catalog, table_schema, table_name"
            .to_string(),
        (Some("d"), Some(table)) => format!("describe {table}"),
        (Some("cache"), None) => return cache_command(engine, false),
        (Some("cache"), Some("clear")) => return cache_command(engine, true),
        _ => {
            eprintln!("Error: unknown command \\{command}; \\? lists the commands");
            return Meta::Failed;
        }
    };
    if execute(engine, &sql, output).await {
        Meta::Ok
    } else {
        Meta::Failed
    }
}

/// `\cache` and `\cache clear`.
fn cache_command(engine: &Engine, clear: bool) -> Meta {
    let Some(cache) = engine.result_cache() else {
        eprintln!("The result cache is off (--no-cache).");
        return Meta::Ok;
    };
    let result = if clear { cache.clear() } else { cache.stats() };
    match result {
        Ok(stats) => {
            if clear {
                eprintln!(
                    "Removed {} entries ({} bytes) from {}.",
                    stats.entries,
                    stats.bytes,
                    cache.dir().display()
                );
            } else {
                println!("folder: {}\n{stats}", cache.dir().display());
            }
            Meta::Ok
        }
        Err(error) => {
            eprintln!(
                "Error: cannot read the cache folder {}: {error}",
                cache.dir().display()
            );
            Meta::Failed
        }
    }
}
