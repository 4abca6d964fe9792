//! Chat-template rendering, as transformers' `apply_chat_template` does it
//! (`transformers/utils/chat_template_utils.py`), with `minijinja` in place of Jinja2:
//! - the environment: `trim_blocks`, `lstrip_blocks`, loop controls, no trailing newline kept,
//!   Python's string/dict/list methods (`minijinja-contrib`'s pycompat), `raise_exception`,
//!   `strftime_now`, and transformers' `tojson` (`json.dumps` with `ensure_ascii=False`,
//!   `indent`, `separators`, `sort_keys`; no HTML escaping);
//! - values are printed as Python prints them (`True`, `None`, `1.0`, `{'a': 1}`);
//! - `{% generation %}…{% endgeneration %}` is rewritten into a filter block that wraps its
//!   body in two marker characters; after rendering, the markers are removed and their
//!   places are the character spans of assistant text (transformers' `AssistantTracker`).
//!
//! Where the template comes from is [`TemplateSource`]: `--chat-template FILE`, else the
//! tokenizer's `chat_template.jinja`, else `tokenizer_config.json`'s `chat_template` (a string,
//! or a list of named templates: `--chat-template NAME`, else `tool_use` for rows with tools,
//! else `default`).

use std::fmt::Write as _;

use minijinja::value::{Kwargs, Rest, Value, ValueKind};
use minijinja::{Environment, Error as JinjaError, ErrorKind};
use sha2::{Digest, Sha256};

/// Opens a generation span in the rendered text (a Unicode noncharacter: never in real text).
pub const GEN_START: char = '\u{FDD0}';
/// Closes a generation span.
pub const GEN_END: char = '\u{FDD1}';

/// Where the template came from.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct TemplateSource {
    /// `--chat-template FILE`, `chat_template.jinja`, or `tokenizer_config.json`.
    pub origin: String,
    /// The template's name in a list of named templates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// sha256 of the template text (hex), as written in its source.
    pub sha256: String,
    /// Whether it marks assistant text with `{% generation %}`.
    pub generation_marks: bool,
}

/// A compiled chat template, ready to render conversations.
pub struct ChatTemplate {
    env: Environment<'static>,
    pub source: TemplateSource,
}

/// What rendering one conversation gave.
pub struct Rendered {
    pub text: String,
    /// Character (code point) spans of `{% generation %}` blocks, in order.
    pub spans: Vec<(usize, usize)>,
}

/// Whether a template has `{% generation %}` marks (TRL's `has_generation_markers`).
pub fn has_generation_marks(template: &str) -> bool {
    find_tags(template, "generation").next().is_some()
}

/// The template source text with `{%-? generation -?%}` → `{%-? filter __delta_hf_generation -?%}`
/// and `{%-? endgeneration -?%}` → `{%-? endfilter -?%}`.
fn rewrite_generation(template: &str) -> String {
    let mut out = String::with_capacity(template.len() + 64);
    let mut rest = template;
    while let Some(open) = rest.find("{%") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let (dash_l, body) = match after.strip_prefix('-') {
            Some(b) => ("-", b),
            None => ("", after),
        };
        let trimmed = body.trim_start();
        let word_len = trimmed.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').count();
        let word = &trimmed[..word_len];
        let tail = trimmed[word_len..].trim_start();
        let close = if let Some(t) = tail.strip_prefix("-%}") {
            Some(("-", t))
        } else {
            tail.strip_prefix("%}").map(|t| ("", t))
        };
        match (word, close) {
            ("generation", Some((dash_r, t))) => {
                out.push_str(&format!("{{%{dash_l} filter __delta_hf_generation {dash_r}%}}"));
                rest = t;
            }
            ("endgeneration", Some((dash_r, t))) => {
                out.push_str(&format!("{{%{dash_l} endfilter {dash_r}%}}"));
                rest = t;
            }
            _ => {
                out.push_str("{%");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The positions of `{%-? word -?%}` tags in `template`.
fn find_tags<'a>(template: &'a str, word: &'a str) -> impl Iterator<Item = usize> + 'a {
    template.match_indices("{%").filter_map(move |(i, _)| {
        let after = &template[i + 2..];
        let body = after.strip_prefix('-').unwrap_or(after).trim_start();
        let rest = body.strip_prefix(word)?;
        let rest = rest.trim_start();
        (rest.starts_with("%}") || rest.starts_with("-%}")).then_some(i)
    })
}

impl ChatTemplate {
    /// Compile `template`; a syntax error is returned as its message.
    pub fn compile(template: &str, origin: String, name: Option<String>) -> Result<Self, String> {
        let generation_marks = has_generation_marks(template);
        let source = TemplateSource {
            origin,
            name,
            sha256: hex::encode(Sha256::digest(template.as_bytes())),
            generation_marks,
        };
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_keep_trailing_newline(false);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.set_formatter(|out, _state, value| {
            if value.is_undefined() {
                return Ok(());
            }
            let mut s = String::new();
            py_str(value, &mut s);
            out.write_str(&s).map_err(|_| JinjaError::new(ErrorKind::WriteFailure, "write failed"))
        });
        env.add_function("raise_exception", |message: String| -> Result<Value, JinjaError> {
            Err(JinjaError::new(ErrorKind::InvalidOperation, message))
        });
        env.add_function("strftime_now", |format: String| -> Result<String, JinjaError> {
            let mut s = String::new();
            write!(s, "{}", chrono::Local::now().format(&format)).map_err(|_| {
                JinjaError::new(ErrorKind::InvalidOperation, format!("strftime_now: bad format `{format}`"))
            })?;
            Ok(s)
        });
        env.add_filter("tojson", tojson);
        // A filter block, not a call block: minijinja's macros (a call block's `caller`) do not
        // see namespaces assigned in their body (`{% set ns.x = ... %}`), which templates do.
        env.add_filter("__delta_hf_generation", |body: String| format!("{GEN_START}{body}{GEN_END}"));
        env.add_template_owned("chat_template", rewrite_generation(template))
            .map_err(|e| describe_error(&e))?;
        Ok(ChatTemplate { env, source })
    }

    /// Render one conversation with its context (`messages`, `tools`, `add_generation_prompt`,
    /// the special tokens and keyword arguments). An error is the
    /// template's message (e.g. its `raise_exception`).
    pub fn render(&self, ctx: Value) -> Result<Rendered, String> {
        let t = self.env.get_template("chat_template").map_err(|e| describe_error(&e))?;
        let raw = t.render(ctx).map_err(|e| describe_error(&e))?;
        if !raw.contains([GEN_START, GEN_END]) {
            return Ok(Rendered { text: raw, spans: Vec::new() });
        }
        let mut text = String::with_capacity(raw.len());
        let mut spans = Vec::new();
        let mut open: Vec<usize> = Vec::new();
        let mut n = 0usize;
        for c in raw.chars() {
            match c {
                GEN_START => open.push(n),
                GEN_END => {
                    if let Some(start) = open.pop() {
                        spans.push((start, n));
                    }
                }
                c => {
                    text.push(c);
                    n += 1;
                }
            }
        }
        spans.sort();
        Ok(Rendered { text, spans })
    }
}

/// A template error as one line: its message (for `raise_exception`, the template's own words).
fn describe_error(e: &JinjaError) -> String {
    let mut s = match e.kind() {
        ErrorKind::InvalidOperation => e.detail().map(String::from).unwrap_or_else(|| e.to_string()),
        _ => e.to_string(),
    };
    if let Some(line) = e.line()
        && e.kind() != ErrorKind::InvalidOperation
    {
        s = format!("{s} (template line {line})");
    }
    s
}

/// transformers' `tojson`: `json.dumps(x, ensure_ascii=False, indent=None, separators=None,
/// sort_keys=False)`, positional or by keyword.
fn tojson(value: Value, args: Rest<Value>, kwargs: Kwargs) -> Result<Value, JinjaError> {
    let mut ensure_ascii = args.first().map(|v| v.is_true()).unwrap_or(false);
    let mut indent = args.get(1).cloned().unwrap_or(Value::from(()));
    let mut separators = args.get(2).cloned().unwrap_or(Value::from(()));
    let mut sort_keys = args.get(3).map(|v| v.is_true()).unwrap_or(false);
    if let Some(v) = kwargs.get::<Option<Value>>("ensure_ascii")? {
        ensure_ascii = v.is_true();
    }
    if let Some(v) = kwargs.get::<Option<Value>>("indent")? {
        indent = v;
    }
    if let Some(v) = kwargs.get::<Option<Value>>("separators")? {
        separators = v;
    }
    if let Some(v) = kwargs.get::<Option<Value>>("sort_keys")? {
        sort_keys = v.is_true();
    }
    kwargs.assert_all_used()?;
    let indent = match indent.kind() {
        ValueKind::None | ValueKind::Undefined => None,
        ValueKind::Number => Some(" ".repeat(indent.as_i64().unwrap_or(0).max(0) as usize)),
        _ => Some(indent.as_str().unwrap_or_default().to_string()),
    };
    let (item_sep, key_sep) = match separators.kind() {
        ValueKind::Seq => {
            let a = separators.get_item_by_index(0)?;
            let b = separators.get_item_by_index(1)?;
            (a.as_str().unwrap_or(", ").to_string(), b.as_str().unwrap_or(": ").to_string())
        }
        _ if indent.is_some() => (",".to_string(), ": ".to_string()),
        _ => (", ".to_string(), ": ".to_string()),
    };
    let opts = JsonOpts { ensure_ascii, indent, item_sep, key_sep, sort_keys };
    let mut out = String::new();
    json_dump(&value, &opts, 0, &mut out)?;
    Ok(Value::from(out))
}

struct JsonOpts {
    ensure_ascii: bool,
    indent: Option<String>,
    item_sep: String,
    key_sep: String,
    sort_keys: bool,
}

fn json_dump(v: &Value, o: &JsonOpts, level: usize, out: &mut String) -> Result<(), JinjaError> {
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
        ValueKind::Number => py_number(v, out, true),
        ValueKind::String => json_string(v.as_str().unwrap_or_default(), o.ensure_ascii, out),
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = v.try_iter()?.collect();
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(&o.item_sep);
                }
                newline(o, level + 1, out);
                json_dump(item, o, level + 1, out)?;
            }
            newline(o, level, out);
            out.push(']');
        }
        ValueKind::Map => {
            let mut keys: Vec<Value> = v.try_iter()?.collect();
            if keys.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            if o.sort_keys {
                keys.sort_by_key(|k| k.to_string());
            }
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(&o.item_sep);
                }
                newline(o, level + 1, out);
                let key = match k.kind() {
                    ValueKind::String => k.as_str().unwrap_or_default().to_string(),
                    ValueKind::Bool => (if k.is_true() { "true" } else { "false" }).to_string(),
                    ValueKind::None => "null".to_string(),
                    ValueKind::Number => {
                        let mut s = String::new();
                        py_number(k, &mut s, true);
                        s
                    }
                    _ => {
                        return Err(JinjaError::new(
                            ErrorKind::InvalidOperation,
                            format!("tojson: keys must be str, int, float, bool or None, not {}", k.kind()),
                        ));
                    }
                };
                json_string(&key, o.ensure_ascii, out);
                out.push_str(&o.key_sep);
                json_dump(&v.get_item(k)?, o, level + 1, out)?;
            }
            newline(o, level, out);
            out.push('}');
        }
        other => {
            return Err(JinjaError::new(
                ErrorKind::InvalidOperation,
                format!("tojson: Object of type {other} is not JSON serializable"),
            ));
        }
    }
    Ok(())
}

fn newline(o: &JsonOpts, level: usize, out: &mut String) {
    if let Some(ind) = &o.indent {
        out.push('\n');
        for _ in 0..level {
            out.push_str(ind);
        }
    }
}

/// A string as Python's `json.dumps` writes it.
fn json_string(s: &str, ensure_ascii: bool, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if ensure_ascii && (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A number as Python prints it (`repr`): integers plainly, floats with `.0` or an exponent
/// of at least two digits; `json` spells the non-finite ones `NaN`, `Infinity`.
fn py_number(v: &Value, out: &mut String, json: bool) {
    if v.is_integer() {
        let _ = write!(out, "{v}");
        return;
    }
    let f = f64::try_from(v.clone()).unwrap_or(f64::NAN);
    py_float(f, out, json);
}

fn py_float(f: f64, out: &mut String, json: bool) {
    if f.is_nan() {
        out.push_str(if json { "NaN" } else { "nan" });
        return;
    }
    if f.is_infinite() {
        out.push_str(match (json, f > 0.0) {
            (true, true) => "Infinity",
            (true, false) => "-Infinity",
            (false, true) => "inf",
            (false, false) => "-inf",
        });
        return;
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("an integer exponent");
    if f == 0.0 || (-4..16).contains(&exp) {
        let s = format!("{f}");
        out.push_str(&s);
        if !s.contains('.') {
            out.push_str(".0");
        }
    } else {
        let _ = write!(out, "{mantissa}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
}

/// A value as Python's `str()` prints it (what Jinja2 writes for `{{ value }}`).
fn py_str(v: &Value, out: &mut String) {
    match v.kind() {
        ValueKind::String => out.push_str(v.as_str().unwrap_or_default()),
        _ => py_repr(v, out),
    }
}

/// A value as Python's `repr()` prints it (inside lists and dicts).
fn py_repr(v: &Value, out: &mut String) {
    match v.kind() {
        ValueKind::Undefined => {}
        ValueKind::None => out.push_str("None"),
        ValueKind::Bool => out.push_str(if v.is_true() { "True" } else { "False" }),
        ValueKind::Number => py_number(v, out, false),
        ValueKind::String => py_string_repr(v.as_str().unwrap_or_default(), out),
        ValueKind::Seq => {
            out.push('[');
            if let Ok(items) = v.try_iter() {
                for (i, item) in items.enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    py_repr(&item, out);
                }
            }
            out.push(']');
        }
        ValueKind::Map => {
            out.push('{');
            if let Ok(keys) = v.try_iter() {
                for (i, k) in keys.enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    py_repr(&k, out);
                    out.push_str(": ");
                    py_repr(&v.get_item(&k).unwrap_or_default(), out);
                }
            }
            out.push('}');
        }
        _ => {
            let _ = write!(out, "{v}");
        }
    }
}

/// Python's `repr` of a string: single quotes unless it holds `'` and no `"`.
fn py_string_repr(s: &str, out: &mut String) {
    let quote = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(t: &str, ctx: Value) -> Rendered {
        ChatTemplate::compile(t, "test".into(), None).unwrap().render(ctx).unwrap()
    }

    #[test]
    fn generation_blocks_give_char_spans() {
        let t = "{% for m in messages %}<{{ m.role }}>{% if m.role == 'assistant' %}{% generation %}{{ m.content }}!{% endgeneration %}{% else %}{{ m.content }}{% endif %}\n{% endfor %}";
        assert!(has_generation_marks(t));
        let msgs: Value = serde_json::from_str(
            r#"[{"role":"user","content":"héllo"},{"role":"assistant","content":"wörld"}]"#,
        )
        .unwrap();
        let r = render(t, Value::from_iter([("messages", msgs)]));
        assert_eq!(r.text, "<user>héllo<assistant>wörld!");
        assert_eq!(r.spans, vec![(22, 28)]);
    }

    #[test]
    fn tojson_like_python() {
        let v: Value =
            serde_json::from_str(r#"{"b": [1, 2.5, 1e-7, "é<>"], "a": {"x": null, "y": true}}"#).unwrap();
        let ctx = Value::from_iter([("v", v)]);
        assert_eq!(
            render("{{ v | tojson }}", ctx.clone()).text,
            r#"{"b": [1, 2.5, 1e-07, "é<>"], "a": {"x": null, "y": true}}"#
        );
        assert_eq!(
            render("{{ v | tojson(indent=2, sort_keys=true) }}", ctx.clone()).text,
            "{\n  \"a\": {\n    \"x\": null,\n    \"y\": true\n  },\n  \"b\": [\n    1,\n    2.5,\n    1e-07,\n    \"é<>\"\n  ]\n}"
        );
        assert_eq!(
            render("{{ v.a | tojson(separators=(',', ':')) }}", ctx.clone()).text,
            r#"{"x":null,"y":true}"#
        );
        assert_eq!(render("{{ v.a }} {{ v.b[1] }} {{ 3.0 }}", ctx).text, "{'x': None, 'y': True} 2.5 3.0");
    }

    #[test]
    fn raise_exception_is_the_message() {
        let t =
            ChatTemplate::compile("{{ raise_exception('roles must alternate') }}", "t".into(), None).unwrap();
        assert_eq!(t.render(Value::from(())).err().unwrap(), "roles must alternate");
    }

    #[test]
    fn rewrite_keeps_other_tags() {
        assert_eq!(
            rewrite_generation("{%- generation -%}x{% endgeneration %}{% if a %}{% endif %}"),
            "{%- filter __delta_hf_generation -%}x{% endfilter %}{% if a %}{% endif %}"
        );
    }
}
