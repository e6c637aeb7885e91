//! Collecting rows from several inputs into one table.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use super::IpTable;
use super::error::IpTableError;
use super::flatten::{RawRange, flatten};
use super::palette::Palette;
use super::parse::{Row, Span};
use super::read::read_rows;
use super::v4::V4Table;
use super::v6::V6Table;

/// Collects rows from files or readers, then builds an [`IpTable`].
///
/// ```
/// use std::net::IpAddr;
/// use tower_export_control::{CountryCode, IpTable};
///
/// let mut builder = IpTable::builder();
/// builder.add_reader("inline", "1.0.1.0,1.0.3.255,CN\n2001:200::/23,JP\n".as_bytes())?;
/// let table = builder.build();
/// let ip: IpAddr = "1.0.2.7".parse().unwrap();
/// assert_eq!(table.lookup(ip), Some(CountryCode::parse("CN").unwrap()));
/// # Ok::<(), tower_export_control::jurisdiction::IpTableError>(())
/// ```
#[derive(Default)]
pub struct IpTableBuilder {
    v4: Vec<RawRange<u32>>,
    v6: Vec<RawRange<u128>>,
    unassigned_rows: usize,
}

impl IpTableBuilder {
    /// An empty builder; same as [`IpTable::builder`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the rows of a file, plain or gzip-compressed (recognised by its
    /// content, not its name).
    ///
    /// # Errors
    /// [`IpTableError::Io`] when the file cannot be read,
    /// [`IpTableError::Line`] at the first malformed line. On error no row of
    /// this file is added.
    pub fn add_path(&mut self, path: impl AsRef<Path>) -> Result<&mut Self, IpTableError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let file = File::open(path).map_err(|source| IpTableError::Io {
            file: name.clone(),
            source,
        })?;
        self.add_reader(&name, file)
    }

    /// Adds the rows read from `reader`, plain or gzip-compressed; `name`
    /// identifies the input in errors.
    ///
    /// # Errors
    /// As for [`add_path`](Self::add_path).
    pub fn add_reader(&mut self, name: &str, reader: impl Read) -> Result<&mut Self, IpTableError> {
        let before = (self.v4.len(), self.v6.len(), self.unassigned_rows);
        match read_rows(name, reader, |row| self.push(row)) {
            Ok(()) => Ok(self),
            Err(e) => {
                self.v4.truncate(before.0);
                self.v6.truncate(before.1);
                self.unassigned_rows = before.2;
                Err(e)
            }
        }
    }

    fn push(&mut self, row: Row) {
        let order = self.v4.len() + self.v6.len();
        if row.country.is_none() {
            self.unassigned_rows += 1;
        }
        match row.span {
            Span::V4(start, end) => self.v4.push(RawRange {
                start,
                end,
                order,
                country: row.country,
            }),
            Span::V6(start, end) => self.v6.push(RawRange {
                start,
                end,
                order,
                country: row.country,
            }),
        }
    }

    /// Resolves overlaps and builds the lookup table.
    pub fn build(self) -> IpTable {
        let palette = Palette::new();
        let (v4_ranges, v6_ranges) = (self.v4.len(), self.v6.len());
        let v4: Vec<(u32, u8)> = flatten(self.v4)
            .into_iter()
            .map(|(start, country)| (start, palette.code(country)))
            .collect();
        let v6: Vec<(u128, u8)> = flatten(self.v6)
            .into_iter()
            .map(|(start, country)| (start, palette.code(country)))
            .collect();
        IpTable {
            v4: V4Table::new(&v4),
            v6: V6Table::new(&v6),
            palette,
            v4_ranges,
            v6_ranges,
            unassigned_rows: self.unassigned_rows,
        }
    }
}

impl fmt::Debug for IpTableBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IpTableBuilder")
            .field("ipv4_ranges", &self.v4.len())
            .field("ipv6_ranges", &self.v6.len())
            .field("unassigned_rows", &self.unassigned_rows)
            .finish()
    }
}
