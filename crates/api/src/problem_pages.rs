//! `GET /problems` and `GET /problems/{slug}`: a page for each problem type, so the `type` of
//! every problem answer resolves against the server to what it means and what to do. Both are
//! written from the one table of types ([`crate::wire::problems`]): HTML for a browser (an
//! `Accept` that ranks `text/html` first), JSON otherwise.

use actix_web::http::header::{self, Accept};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use crate::ApiError;
use crate::wire::problems::{self, ProblemType};

/// One type's page.
pub async fn page(req: HttpRequest, slug: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let problem = ProblemType::by_slug(&slug).ok_or_else(|| {
        ApiError::not_found("there is no such problem type: /problems lists them all")
    })?;
    Ok(if wants_html(&req) {
        html(problem.title, &section(problem, false))
    } else {
        json(described(problem))
    })
}

/// Every type's page, in status order.
pub async fn index(req: HttpRequest) -> HttpResponse {
    if wants_html(&req) {
        let sections: String = problems::ALL.iter().map(|p| section(*p, true)).collect();
        html("Problem types", &sections)
    } else {
        let items: Vec<Value> = problems::ALL.into_iter().map(described).collect();
        json(json!({ "items": items }))
    }
}

fn described(problem: ProblemType) -> Value {
    json!({
        "type": problem.uri,
        "title": problem.title,
        "status": problem.status.as_u16(),
        "when": problem.page.when,
        "advice": problem.page.advice,
    })
}

/// Whether the client ranks HTML above JSON (a browser does; a client that says nothing gets
/// JSON). A range of quality 0 is one the client refuses.
fn wants_html(req: &HttpRequest) -> bool {
    let Some(accept) = req.get_header::<Accept>() else {
        return false;
    };
    let mut ranges: Vec<_> = accept
        .iter()
        .filter(|range| range.quality > header::Quality::ZERO)
        .collect();
    // Highest quality first; of equal ones, the order the client gave.
    ranges.sort_by_key(|range| std::cmp::Reverse(range.quality));
    ranges
        .into_iter()
        .find_map(
            |range| match (range.item.type_().as_str(), range.item.subtype().as_str()) {
                ("text", "html" | "*") => Some(true),
                ("application", "json" | "problem+json") | ("*", "*") => Some(false),
                _ => None,
            },
        )
        .unwrap_or(false)
}

/// The answer varies with `Accept`: a cache keys on it.
fn json(body: Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::VARY, "Accept"))
        .json(body)
}

fn section(problem: ProblemType, linked: bool) -> String {
    let title = escape(problem.title);
    let heading = if linked {
        format!("<a href=\"{}\">{title}</a>", problem.uri)
    } else {
        title
    };
    format!(
        "<section id=\"{slug}\"><h2>{heading}</h2><p><code>{uri}</code> · {status}</p>\
         <h3>When</h3><p>{when}</p><h3>What to do</h3><p>{advice}</p></section>",
        slug = problem.slug(),
        uri = problem.uri,
        status = problem.status.as_u16(),
        when = prose(problem.page.when),
        advice = prose(problem.page.advice),
    )
}

fn html(title: &str, body: &str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::VARY, "Accept"))
        // Text only: no script, style or frame is ever part of these pages.
        .insert_header((header::CONTENT_SECURITY_POLICY, "default-src 'none'"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>{title} · Sluice</title></head><body><h1>{title}</h1>{body}\
             <p><a href=\"/problems\">Every problem type</a></p></body></html>",
            title = escape(title),
        ))
}

/// The table's text in HTML: escaped, with `code` in backticks set as code.
fn prose(text: &str) -> String {
    escape(text)
        .split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                format!("<code>{part}</code>")
            } else {
                part.to_owned()
            }
        })
        .collect()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tables_text_is_escaped_and_its_code_set_as_code() {
        assert_eq!(
            prose("send `Authorization: Bearer <key>` & wait"),
            "send <code>Authorization: Bearer &lt;key&gt;</code> &amp; wait"
        );
    }
}
