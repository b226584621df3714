//! The XML layer every message is read and written through.
//!
//! The reader is a small pull cursor over quick-xml's namespace-aware reader: callers ask for
//! the next child of an element, the text of an element, or to skip it, and match children by
//! *local name*, so any prefix (or none) reads the same. The writer emits compact, byte-stable
//! XML with fixed prefixes.

mod reader;
mod writer;

pub(crate) use reader::{Element, XmlReader, parse_bool};
pub(crate) use writer::XmlWriter;
