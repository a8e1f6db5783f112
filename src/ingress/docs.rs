//! The router's documentation pages, as FastAPI serves them: `/docs` (Swagger UI),
//! `/docs/oauth2-redirect` (where an OAuth2 provider sends the browser back to Swagger UI) and
//! `/redoc` (ReDoc), each rendering the router's `/openapi.json`.
//!
//! Invariant: each page is rendered once, when the router is built, with the title escaped;
//! the pages load Swagger UI and ReDoc from the CDN FastAPI uses, and every URL they name is
//! relative (`./openapi.json`, `./docs/oauth2-redirect`), so they work under any route prefix.

/// The Swagger UI distribution FastAPI's default `/docs` page loads.
const SWAGGER_UI_CDN: &str = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5";
/// The ReDoc bundle FastAPI's default `/redoc` page loads.
const REDOC_JS: &str = "https://cdn.jsdelivr.net/npm/redoc@2/bundles/redoc.standalone.js";

/// The HTML of the Swagger UI page for a document titled `title`.
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
    oauth2RedirectUrl: new URL('./docs/oauth2-redirect', window.location.href).href,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
}})
</script>
</body>
</html>
"#
    )
}

/// The HTML of the ReDoc page for a document titled `title`.
pub(crate) fn redoc_html(title: &str) -> String {
    let title = escape_html(title);
    format!(
        r#"<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - ReDoc</title>
<style>body {{ margin: 0; padding: 0; }}</style>
</head>
<body>
<noscript>ReDoc needs JavaScript to show this API's documentation.</noscript>
<redoc spec-url="./openapi.json"></redoc>
<script src="{REDOC_JS}"></script>
</body>
</html>
"#
    )
}

/// The page an OAuth2 provider redirects the browser to after Swagger UI's "Authorize": it
/// hands the authorization code (or, in the implicit flow, the token) back to the Swagger UI
/// window that opened it — checking the `state` it sent — and closes itself.
pub(crate) const SWAGGER_OAUTH2_REDIRECT_HTML: &str = r#"<!DOCTYPE html>
<html lang="en-US">
<head>
<title>Swagger UI: OAuth2 Redirect</title>
</head>
<body>
<script>
'use strict';
function finish() {
    const oauth2 = window.opener && window.opener.swaggerUIRedirectOauth2;
    if (!oauth2) {
        document.body.textContent = 'No Swagger UI window is waiting for this authorization.';
        return;
    }
    // The implicit flow answers in the fragment, the code flow in the query.
    const answer = /code|token|error/.test(window.location.hash)
        ? window.location.hash.substring(1).replace('?', '&')
        : window.location.search.substring(1);
    const params = Object.fromEntries(new URLSearchParams(answer));
    const stateKept = params.state === oauth2.state;
    const flow = oauth2.auth.schema.get('flow');
    const codeFlow = ['accessCode', 'authorizationCode', 'authorization_code'].includes(flow);
    if (codeFlow && !oauth2.auth.code) {
        if (!stateKept) {
            oauth2.errCb({
                authId: oauth2.auth.name, source: 'auth', level: 'warning',
                message: 'Authorization may be unsafe: the state sent was not returned by the authorization server.',
            });
        }
        if (params.code) {
            delete oauth2.state;
            oauth2.auth.code = params.code;
            oauth2.callback({auth: oauth2.auth, redirectUrl: oauth2.redirectUrl});
        } else {
            const reason = params.error
                ? '[' + params.error + ']: ' + (params.error_description || 'no authorization code received.')
                    + (params.error_uri ? ' More: ' + params.error_uri : '')
                : '[Authorization failed]: no authorization code received from the server.';
            oauth2.errCb({authId: oauth2.auth.name, source: 'auth', level: 'error', message: reason});
        }
    } else {
        oauth2.callback({auth: oauth2.auth, token: params, isValid: stateKept, redirectUrl: oauth2.redirectUrl});
    }
    window.close();
}
if (document.readyState === 'loading') {
    window.addEventListener('DOMContentLoaded', finish);
} else {
    finish();
}
</script>
</body>
</html>
"#;

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
        let html = redoc_html("<Items & Co>");
        assert!(html.contains("<title>&lt;Items &amp; Co&gt; - ReDoc</title>"));
        assert!(html.contains(r#"spec-url="./openapi.json""#));
    }
}
