//! The `/docs` page: Swagger UI rendering the router's `/openapi.json`, as FastAPI serves it.
//!
//! Invariant: the page is rendered once, when the router is built, with the title escaped;
//! it loads Swagger UI from the same CDN FastAPI uses and the document from the relative URL
//! `./openapi.json`, so it works under any route prefix.

/// The Swagger UI distribution FastAPI's default `/docs` page loads.
const SWAGGER_UI_CDN: &str = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5";

/// The HTML of the docs page for a document titled `title`.
pub(crate) fn swagger_ui_html(title: &str) -> String {
    let title = escape_html(title);
    format!(
        r#"<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<link type="text/css" rel="stylesheet" href="{SWAGGER_UI_CDN}/swagger-ui.css">
<title>{title} - Swagger UI</title>
</head>
<body>
<div id="swagger-ui"></div>
<script src="{SWAGGER_UI_CDN}/swagger-ui-bundle.js"></script>
<script>
const ui = SwaggerUIBundle({{
    url: './openapi.json',
    dom_id: '#swagger-ui',
    layout: 'BaseLayout',
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
}})
</script>
</body>
</html>
"#
    )
}

fn escape_html(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#x27;"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_is_escaped() {
        let html = swagger_ui_html("<Items & Co>");
        assert!(html.contains("<title>&lt;Items &amp; Co&gt; - Swagger UI</title>"));
        assert!(html.contains("url: './openapi.json'"));
    }
}
