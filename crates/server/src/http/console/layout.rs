//! The console's page shell (navigation, flash message, sign-out), its message and sign-in
//! pages, and small pieces the pages share. `maud` escapes every `(value)` it renders; the only
//! unescaped text is the constant style sheet.

use axum::http::StatusCode;
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::session::Session;

/// A message shown once at the top of the next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    pub is_error: bool,
    pub text: String,
}

impl Flash {
    pub fn ok(text: impl Into<String>) -> Flash {
        Flash {
            is_error: false,
            text: text.into(),
        }
    }

    pub fn error(text: impl Into<String>) -> Flash {
        Flash {
            is_error: true,
            text: text.into(),
        }
    }
}

const STYLE: &str = "
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{display:flex;align-items:center;gap:1.2em;padding:.6em 1.5em;background:#1d2330}
header a{color:#dfe6f3;text-decoration:none}header a:hover{color:#fff}
header .brand{font-weight:600;color:#fff;margin-right:1em}header form{margin-left:auto}
main{padding:1em 1.5em;max-width:80em}h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}
table{border-collapse:collapse;background:#fff;margin:.5em 0}
th,td{border:1px solid #d8dce3;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#eef0f4}td form{display:inline}
.flash{padding:.6em 1em;border-radius:4px;background:#e3f4e6;border:1px solid #9ccfa6}
.flash.error{background:#fbe6e6;border-color:#e2a0a0}
form.box{background:#fff;border:1px solid #d8dce3;padding:.8em 1em;max-width:44em}
form.box label{display:block;margin:.4em 0}input[type=text],input[type=password],select,
textarea{font:inherit;padding:.2em .4em}textarea{width:30em;height:6em}
pre{background:#fff;border:1px solid #d8dce3;padding:.5em;white-space:pre-wrap;
word-break:break-all;max-width:60em}
button{font:inherit;cursor:pointer}button.danger{color:#a01818}
.muted{color:#6b7385}input.copy{width:100%;max-width:48em;font-family:monospace}
";

fn shell(title: &str, nav: Markup, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · b24lite console" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header { span.brand { "b24lite console" } (nav) }
                main { (body) }
            }
        }
    }
}

/// A page of a signed-in session.
pub fn page(title: &str, session: &Session, flash: Option<Flash>, body: Markup) -> Markup {
    let nav = html! {
        a href="/console" { "Overview" }
        a href="/console/fields" { "Contact fields" }
        a href="/console/webhooks" { "Outgoing webhooks" }
        a href="/console/events" { "Events" }
        a href="/console/deliveries" { "Deliveries" }
        a href="/console/apps" { "Applications" }
        form method="post" action="/console/logout" {
            (csrf(session))
            button type="submit" { "Sign out" }
        }
    };
    let body = html! {
        h1 { (title) }
        @if let Some(flash) = flash {
            p.flash.error[flash.is_error] role="status" { (flash.text) }
        }
        (body)
    };
    shell(title, nav, body)
}

/// A page that only says why the request could not be served.
pub fn message(status: StatusCode, text: &str) -> Markup {
    let title = status.canonical_reason().unwrap_or("Error");
    let body = html! {
        h1 { (title) }
        p.flash.error[status.as_u16() >= 400] role="alert" { (text) }
        p { a href="/console" { "Back to the console" } }
    };
    shell(title, html! {}, body)
}

/// The sign-in form, with the reason the last attempt failed.
pub fn login(error: Option<&str>) -> Markup {
    let body = html! {
        h1 { "Sign in" }
        @if let Some(error) = error {
            p.flash.error role="alert" { (error) }
        }
        form.box method="post" action="/console/login" {
            label {
                "Admin key (" code { "--admin-key" } ", or the file " code { "admin.key" }
                " in the data folder)"
                br;
                input type="password" name="key" autocomplete="current-password" autofocus
                    required size="48";
            }
            button type="submit" { "Sign in" }
        }
    };
    shell("Sign in", html! {}, body)
}

/// The hidden field that carries the session's CSRF token.
pub fn csrf(session: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf); }
}

/// A one-button POST form.
pub fn button(session: &Session, action: &str, label: &str, danger: bool) -> Markup {
    html! {
        form method="post" action=(action) {
            (csrf(session))
            button.danger[danger] type="submit" { (label) }
        }
    }
}

pub fn yes_no(flag: bool) -> &'static str {
    if flag { "yes" } else { "no" }
}
