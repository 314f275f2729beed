//! KQL (`language = "kuery"`), compiled to the same filter as EQL.

use super::eql::{Filter, QueryError};

pub fn parse(src: &str) -> Result<Filter, QueryError> {
    let _ = src;
    todo!("kql")
}
