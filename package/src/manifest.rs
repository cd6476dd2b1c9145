//! Format-preserving edits of a manifest with `toml_edit`: setting one string value, the way a
//! plan's manifest edits are made (the planner's predicted published manifest and the staged
//! and applied files all go through [`set_string`]). Pure: a document in, the document changed.

use toml_edit::{DocumentMut, Item, TableLike, Value};

/// Why an edit could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no table [{table}] to set `{key}` in")]
pub struct EditError {
    /// The table, dotted.
    pub table: String,
    /// The key.
    pub key: String,
}

/// Sets `key` in the table at `table` to the string `value`, format-preserving: the old
/// value's surrounding whitespace and trailing comment, the key order, inline tables and the
/// rest of the document stay as they were. Returns the string replaced, if there was one.
pub fn set_string(
    doc: &mut DocumentMut,
    table: &[String],
    key: &str,
    value: &str,
) -> Result<Option<String>, EditError> {
    let missing = || EditError {
        table: table.join("."),
        key: key.to_owned(),
    };
    let mut scope: &mut dyn TableLike = doc.as_table_mut();
    if let Some((last, parents)) = table.split_last() {
        for part in parents {
            scope = scope
                .get_mut(part)
                .and_then(Item::as_table_like_mut)
                .ok_or_else(missing)?;
        }
        // A key added to an inline table goes after the last one, taking over the space
        // before the closing brace: `{ path = "../b" }` becomes `{ path = "../b", version = "1" }`.
        if let Some(Item::Value(Value::InlineTable(inline))) = scope.get_mut(last) {
            if !inline.contains_key(key) {
                let mut value = Value::from(value);
                let suffix = inline
                    .iter_mut()
                    .last()
                    .map(|(_, last)| {
                        let suffix = last.decor().suffix().cloned();
                        last.decor_mut().set_suffix("");
                        suffix
                    })
                    .unwrap_or(None);
                value.decor_mut().set_prefix(" ");
                if let Some(suffix) = suffix {
                    value.decor_mut().set_suffix(suffix);
                }
                inline.insert(key, value);
                return Ok(None);
            }
        }
        // An element of an array of strings (a `pyproject.toml` requirement), by its index.
        if let (Some(Item::Value(Value::Array(array))), Ok(index)) =
            (scope.get_mut(last), key.parse::<usize>())
        {
            let old = array.get_mut(index).ok_or_else(missing)?;
            let previous = old.as_str().map(str::to_owned);
            let mut new = Value::from(value);
            *new.decor_mut() = old.decor().clone();
            *old = new;
            return Ok(previous);
        }
        scope = scope
            .get_mut(last)
            .and_then(Item::as_table_like_mut)
            .ok_or_else(missing)?;
    }
    match scope.get_mut(key) {
        Some(Item::Value(old)) => {
            let previous = old.as_str().map(str::to_owned);
            let mut new = Value::from(value);
            *new.decor_mut() = old.decor().clone();
            *old = new;
            Ok(previous)
        }
        _ => {
            scope.insert(key, toml_edit::value(value));
            Ok(None)
        }
    }
}
