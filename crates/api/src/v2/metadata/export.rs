//! Exports of a whole filtered issue log as CSV or NDJSON, chosen by `format=` or `Accept`,
//! streamed: each batch is written as the client takes the one before, so an export of any size
//! holds a few batches in memory.

use actix_web::http::header::{ACCEPT, CONTENT_DISPOSITION};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use futures::StreamExt;
use sluice_domain::metadata::{IssueBatches, IssueRow};

use super::issues::IssueDto;
use crate::ApiError;

/// A format an export is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Ndjson,
}

impl ExportFormat {
    const ALL: [(&'static str, &'static str, ExportFormat); 2] = [
        ("csv", "text/csv", ExportFormat::Csv),
        ("ndjson", "application/x-ndjson", ExportFormat::Ndjson),
    ];

    /// The format `format=` names, else the first the `Accept` header names; `None` for a page
    /// of JSON.
    ///
    /// # Errors
    /// 422 pointing at `/format` when it names no format.
    pub fn asked(req: &HttpRequest, format: Option<&str>) -> Result<Option<Self>, ApiError> {
        if let Some(name) = format {
            return match Self::ALL.iter().find(|(n, _, _)| *n == name) {
                Some((_, _, format)) => Ok(Some(*format)),
                None if name == "json" => Ok(None),
                None => Err(ApiError::invalid_field(
                    "/format",
                    "must be one of json (a page), csv, ndjson",
                )),
            };
        }
        let accept = req
            .headers()
            .get(ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        // The first range naming JSON or an export format decides, as the client listed them.
        Ok(accept
            .split(',')
            .find_map(|range| {
                let media = range.split(';').next().unwrap_or_default().trim();
                if media.eq_ignore_ascii_case("application/json") {
                    return Some(None);
                }
                Self::ALL
                    .iter()
                    .find(|(_, m, _)| m.eq_ignore_ascii_case(media))
                    .map(|(_, _, format)| Some(*format))
            })
            .flatten())
    }

    fn media_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::Ndjson => "application/x-ndjson",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Ndjson => "ndjson",
        }
    }
}

/// The columns of a CSV export, as `/v2` names them.
const CSV_HEADER: &str =
    "dataset,resource,line_number,entry_number,field,issue_type,value,message\n";

/// A 200 that streams `batches` in `format`. A batch that cannot be read after the answer has
/// begun ends the stream with an error, so the client sees a cut transfer, never a short file
/// that looks whole.
pub fn stream(format: ExportFormat, batches: IssueBatches) -> HttpResponse {
    let header = match format {
        ExportFormat::Csv => Some(Ok(Bytes::from_static(CSV_HEADER.as_bytes()))),
        ExportFormat::Ndjson => None,
    };
    let body = futures::stream::iter(header).chain(batches.map(move |batch| match batch {
        Ok(rows) => encode(format, rows),
        Err(err) => {
            tracing::error!(error = %err, "an issue export stopped");
            Err(actix_web::error::ErrorInternalServerError(
                "the export stopped",
            ))
        }
    }));
    HttpResponse::Ok()
        .content_type(format.media_type())
        .insert_header((
            CONTENT_DISPOSITION,
            format!("attachment; filename=\"issues.{}\"", format.extension()),
        ))
        .streaming(body)
}

fn encode(format: ExportFormat, rows: Vec<IssueRow>) -> Result<Bytes, actix_web::Error> {
    let internal = |e: &dyn std::fmt::Display| {
        tracing::error!(error = %e, "an issue export could not be written");
        actix_web::error::ErrorInternalServerError("the export stopped")
    };
    match format {
        ExportFormat::Csv => {
            let mut writer = csv::WriterBuilder::new()
                .has_headers(false)
                .from_writer(Vec::with_capacity(rows.len() * 128));
            for row in rows {
                let dto = IssueDto::from(row);
                writer.serialize(dto).map_err(|e| internal(&e))?;
            }
            let bytes = writer.into_inner().map_err(|e| internal(&e))?;
            Ok(Bytes::from(bytes))
        }
        ExportFormat::Ndjson => {
            let mut bytes = Vec::with_capacity(rows.len() * 160);
            for row in rows {
                serde_json::to_writer(&mut bytes, &IssueDto::from(row))
                    .map_err(|e| internal(&e))?;
                bytes.push(b'\n');
            }
            Ok(Bytes::from(bytes))
        }
    }
}
