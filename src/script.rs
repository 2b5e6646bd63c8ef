//! Splitting a SQL script into its `;`-separated statements, each with the line it starts on.
//!
//! Splitting uses sqlparser's tokenizer, so a `;` inside a string literal, a quoted name or a
//! comment never splits a statement. This module only splits: it never plans or runs anything.

use datafusion::common::DataFusionError;
use datafusion::common::config::Dialect;
use datafusion::error::Result;
use datafusion::sql::sqlparser::dialect::dialect_from_str;
use datafusion::sql::sqlparser::parser::ParserError;
use datafusion::sql::sqlparser::tokenizer::{Location, Token, Tokenizer};

/// One statement of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlStatement {
    text: String,
    line: usize,
    index: usize,
}

impl SqlStatement {
    /// The statement's text, without the terminating `;`.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The 1-based line of the script on which the statement starts.
    pub fn line(&self) -> usize {
        self.line
    }

    /// The statement's 0-based position in its script.
    pub fn index(&self) -> usize {
        self.index
    }
}

/// Splits `sql` into statements; empty statements (`;;`, comments only) are skipped.
pub(crate) fn split_statements(sql: &str, dialect: &Dialect) -> Result<Vec<SqlStatement>> {
    let parser_dialect = dialect_from_str(dialect).ok_or_else(|| {
        DataFusionError::Plan(format!(
            "unsupported SQL dialect {dialect}; available: {}",
            Dialect::available()
        ))
    })?;
    let tokens = Tokenizer::new(parser_dialect.as_ref(), sql)
        .tokenize_with_location()
        .map_err(|error| DataFusionError::SQL(Box::new(ParserError::from(error)), None))?;
    let offsets = LineOffsets::new(sql);
    let mut statements = Vec::new();
    let mut start: Option<Location> = None;
    let close = |start: Location, end_byte: usize, statements: &mut Vec<SqlStatement>| {
        let text = sql[offsets.byte_of(start)..end_byte].trim_end();
        statements.push(SqlStatement {
            text: text.to_string(),
            line: start.line as usize,
            index: statements.len(),
        });
    };
    for token in &tokens {
        match token.token {
            Token::SemiColon => {
                if let Some(begin) = start.take() {
                    close(begin, offsets.byte_of(token.span.start), &mut statements);
                }
            }
            Token::Whitespace(_) | Token::EOF => {}
            _ => {
                start.get_or_insert(token.span.start);
            }
        }
    }
    if let Some(begin) = start {
        close(begin, sql.len(), &mut statements);
    }
    Ok(statements)
}

/// Maps sqlparser's 1-based (line, column-in-characters) locations to byte offsets.
struct LineOffsets<'a> {
    sql: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> LineOffsets<'a> {
    fn new(sql: &'a str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(sql.match_indices('\n').map(|(at, _)| at + 1))
            .collect();
        Self { sql, line_starts }
    }

    fn byte_of(&self, location: Location) -> usize {
        let line = (location.line as usize).saturating_sub(1);
        let Some(&line_start) = self.line_starts.get(line) else {
            return self.sql.len();
        };
        let column = (location.column as usize).saturating_sub(1);
        self.sql[line_start..]
            .char_indices()
            .nth(column)
            .map_or(self.sql.len(), |(at, _)| line_start + at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(sql: &str) -> Vec<(String, usize)> {
        split_statements(sql, &Dialect::Generic)
            .unwrap()
            .into_iter()
            .map(|s| (s.text, s.line))
            .collect()
    }

    #[test]
    fn semicolons_inside_strings_and_comments_do_not_split() {
        let sql = "select 'a;b' as x; -- c;d\nselect \"e;f\" from t /* g; */;";
        assert_eq!(
            split(sql),
            vec![
                ("select 'a;b' as x".to_string(), 1),
                ("select \"e;f\" from t /* g; */".to_string(), 2),
            ]
        );
    }

    #[test]
    fn empty_statements_and_trailing_text_without_semicolon_are_handled() {
        let sql = ";;\n\n  select 1;\n-- only a comment\n;select 2\n";
        assert_eq!(
            split(sql),
            vec![("select 1".to_string(), 3), ("select 2".to_string(), 5)]
        );
    }

    #[test]
    fn multibyte_characters_before_a_statement_keep_offsets_right() {
        let sql = "select 'é€'; select 2";
        assert_eq!(
            split(sql),
            vec![("select 'é€'".to_string(), 1), ("select 2".to_string(), 1)]
        );
    }

    #[test]
    fn an_unterminated_string_is_an_error() {
        assert!(split_statements("select 'abc", &Dialect::Generic).is_err());
    }
}
