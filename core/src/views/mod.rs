//! The client's answers as a person reads them: the tables, lines and notes the
//! `aloft` CLI prints, as data. A front end other than a terminal (a web page, a
//! chat bot, a TUI) shows the same columns and messages by rendering a [`View`]
//! its own way; a terminal program writes it with [`View::write`].
//!
//! ```
//! use aloft::views::{Table, View};
//!
//! let mut table = Table::boxed(["NAME", "STATUS"]);
//! table.row(["dev", "UP"]);
//! let view = View::new().table(table).note("1 cluster.");
//! let (mut out, mut notes) = (Vec::new(), Vec::new());
//! view.write(&mut out, &mut notes).unwrap();
//! assert!(String::from_utf8(out).unwrap().contains("dev"));
//! assert_eq!(notes, b"1 cluster.\n");
//! ```

pub mod clusters;
mod format;
pub mod gpus;
pub mod jobs;
pub mod managed;
pub mod plan;
pub mod providers;
pub mod services;
pub mod storage;

pub use format::{ago, duration, infra, number, price, shortened};

use std::fmt;
use std::io::{self, Write};

use comfy_table::{ContentArrangement, presets};
use serde::Serialize;
use unicode_width::UnicodeWidthStr;

/// How much a view shows: SkyPilot's `-v` is [`Detail::Full`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub enum Detail {
    /// The usual columns.
    #[default]
    Brief,
    /// Every field (`-v`).
    Full,
}

impl Detail {
    /// [`Detail::Full`] when `verbose`.
    pub fn from_verbose(verbose: bool) -> Self {
        if verbose { Detail::Full } else { Detail::Brief }
    }

    /// Whether every field is shown.
    pub fn is_full(self) -> bool {
        self == Detail::Full
    }
}

/// What a view is made of, in order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Block {
    /// A line of the answer (a terminal prints it on stdout).
    Line(String),
    /// A table of the answer (stdout).
    Table(Table),
    /// A remark beside the answer: a warning, an empty result, what to do next
    /// (a terminal prints it on stderr, so that stdout stays the answer).
    Note(String),
}

/// An answer to show: lines, tables and notes, in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct View {
    /// The blocks, in the order they are shown.
    pub blocks: Vec<Block>,
}

impl View {
    /// An empty view.
    pub fn new() -> Self {
        View::default()
    }

    /// The view with a line of the answer added.
    pub fn line(mut self, text: impl Into<String>) -> Self {
        self.blocks.push(Block::Line(text.into()));
        self
    }

    /// The view with a table added.
    pub fn table(mut self, table: Table) -> Self {
        self.blocks.push(Block::Table(table));
        self
    }

    /// The view with a note added.
    pub fn note(mut self, text: impl Into<String>) -> Self {
        self.blocks.push(Block::Note(text.into()));
        self
    }

    /// The view with `other`'s blocks added after its own.
    pub fn append(mut self, other: View) -> Self {
        self.blocks.extend(other.blocks);
        self
    }

    /// The view's tables, in order.
    pub fn tables(&self) -> impl Iterator<Item = &Table> {
        self.blocks.iter().filter_map(|block| match block {
            Block::Table(table) => Some(table),
            _ => None,
        })
    }

    /// Writes the view as aloft's CLI shows it: lines and tables to `out`, notes
    /// to `notes`, each followed by a newline. The answer is written in one piece
    /// (a long listing costs one write, not one per line).
    pub fn write(&self, out: &mut dyn Write, notes: &mut dyn Write) -> io::Result<()> {
        let mut text = String::new();
        for block in &self.blocks {
            match block {
                Block::Line(line) => {
                    text.push_str(line);
                    text.push('\n');
                }
                Block::Table(table) => {
                    text.push_str(&table.to_string());
                    text.push('\n');
                }
                Block::Note(note) => {
                    out.write_all(text.as_bytes())?;
                    text.clear();
                    out.flush()?;
                    writeln!(notes, "{note}")?;
                }
            }
        }
        out.write_all(text.as_bytes())?;
        out.flush()
    }
}

impl fmt::Display for View {
    /// Every block on a line of its own, notes included.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for block in &self.blocks {
            match block {
                Block::Line(text) | Block::Note(text) => writeln!(f, "{text}")?,
                Block::Table(table) => writeln!(f, "{table}")?,
            }
        }
        Ok(())
    }
}

/// How a table is laid out as text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TableStyle {
    /// Inside a frame of box-drawing lines, a line under the header.
    #[default]
    Boxed,
    /// Plain columns two spaces apart, no frame: for listings that run to
    /// thousands of rows (`jobs queue`), where laying out a frame costs more than
    /// reading the rows.
    Columns,
}

/// A table of text cells under a header.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Table {
    /// The column names.
    pub header: Vec<String>,
    /// The rows, each as long as the header.
    pub rows: Vec<Vec<String>>,
    /// How it is laid out as text.
    pub style: TableStyle,
}

impl Table {
    /// A framed table with this header.
    pub fn boxed<S: Into<String>>(header: impl IntoIterator<Item = S>) -> Self {
        Table {
            header: header.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
            style: TableStyle::Boxed,
        }
    }

    /// A table of plain columns with this header.
    pub fn columns<S: Into<String>>(header: impl IntoIterator<Item = S>) -> Self {
        Table {
            style: TableStyle::Columns,
            ..Table::boxed(header)
        }
    }

    /// Adds a row.
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    /// The table with these rows added.
    pub fn with_rows<R, S>(mut self, rows: impl IntoIterator<Item = R>) -> Self
    where
        R: IntoIterator<Item = S>,
        S: Into<String>,
    {
        for row in rows {
            self.row(row);
        }
        self
    }

    fn columns_text(&self) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.width()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.width());
            }
        }
        let capacity = (self.rows.len() + 1) * (widths.iter().sum::<usize>() + 20);
        let mut out = String::with_capacity(capacity);
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let start = out.len();
            for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
                if i > 0 {
                    out.push_str("  ");
                }
                out.push_str(cell);
                out.extend(std::iter::repeat_n(' ', w.saturating_sub(cell.width())));
            }
            out.truncate(start + out[start..].trim_end().len());
            out.push('\n');
        }
        out.pop();
        out
    }
}

impl fmt::Display for Table {
    /// The table laid out in its style, without a newline after the last line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.style {
            TableStyle::Columns => f.write_str(&self.columns_text()),
            TableStyle::Boxed => {
                let mut table = comfy_table::Table::new();
                table
                    .load_preset(presets::UTF8_BORDERS_ONLY)
                    .set_content_arrangement(ContentArrangement::Disabled)
                    .set_header(&self.header);
                for row in &self.rows {
                    table.add_row(row);
                }
                write!(f, "{table}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_by_display_width() {
        let table = Table::columns(["ID", "NAME", "STATUS"])
            .with_rows([["1", "训练", "RUNNING"], ["10", "eval", "-"]]);
        assert_eq!(
            table.to_string(),
            "ID  NAME  STATUS\n1   训练  RUNNING\n10  eval  -"
        );
    }

    #[test]
    fn a_boxed_table_frames_header_and_rows() {
        let table = Table::boxed(["NAME", "STATUS"]).with_rows([["dev", "UP"]]);
        let text = table.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert!(lines[0].starts_with('┌'), "{text}");
        assert!(lines[1].contains("NAME") && lines[1].contains("STATUS"));
        assert!(lines[3].contains("dev") && lines[3].contains("UP"));
    }

    #[test]
    fn notes_go_to_their_own_stream_in_order() {
        let view = View::new()
            .line("first")
            .note("careful")
            .table(Table::columns(["A"]).with_rows([["1"]]))
            .line("last");
        let (mut out, mut notes) = (Vec::new(), Vec::new());
        view.write(&mut out, &mut notes).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "first\nA\n1\nlast\n");
        assert_eq!(String::from_utf8(notes).unwrap(), "careful\n");
        assert_eq!(view.to_string(), "first\ncareful\nA\n1\nlast\n");
    }
}
