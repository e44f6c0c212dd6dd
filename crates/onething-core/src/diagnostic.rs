//! Diagnostics: a problem found in a source text, with where it is.

use std::fmt;
use std::ops::Range;

/// A problem in one source text, located by a byte range into that text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub span: Range<usize>,
    pub message: String,
}

impl Diagnostic {
    pub fn new(span: Range<usize>, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            span,
            message: message.into(),
        }
    }

    /// Renders as `path:line:column: message`, the form editors and CI logs understand.
    pub fn render(&self, path: &str, text: &str) -> String {
        let position = LineIndex::new(text).position(self.span.start);
        format!("{path}:{position}: {}", self.message)
    }
}

/// A one-based line and column; the column counts characters, not bytes,
/// so a position after Chinese text points where a person would count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Maps byte offsets to line and column.
pub struct LineIndex<'a> {
    text: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> LineIndex<'a> {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(at, _)| at + 1));
        LineIndex { text, line_starts }
    }

    pub fn position(&self, offset: usize) -> Position {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&start| start <= offset) - 1;
        let line_start = self.line_starts[line];
        let column = self
            .text
            .get(line_start..offset)
            .map_or(offset - line_start, |prefix| prefix.chars().count());
        Position {
            line: line + 1,
            column: column + 1,
        }
    }
}

/// Sorts diagnostics by position so that a report reads top to bottom.
pub fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by(|a, b| {
        (a.span.start, a.span.end, &a.message).cmp(&(b.span.start, b.span.end, &b.message))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_characters_and_lines_from_one() {
        let text = "a = 1\n名 = \"x\"\n";
        let index = LineIndex::new(text);
        assert_eq!(index.position(0), Position { line: 1, column: 1 });
        let after_name = text.find('=').unwrap();
        assert_eq!(index.position(text.rfind('=').unwrap()).line, 2);
        assert_eq!(index.position(after_name).column, 3);
        assert_eq!(
            index.position(text.rfind('=').unwrap()),
            Position { line: 2, column: 3 }
        );
    }
}
