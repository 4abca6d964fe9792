//! `report.html`: the report as one self-contained page — inline CSS and SVG, no script, no
//! link to anything outside the file. Every string that comes from the data or the user
//! (split, table, label names, texts of examples) goes through [`escape`].

use std::fmt::Write as _;

use super::{HygieneReport, LengthSummary, Report, SplitReport};

/// Text safe inside HTML elements and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222;background:#fff}\
h1{font-size:1.4em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}h3{font-size:1em;margin:.8em 0 .2em}table{border-collapse:collapse;margin:.5em 0}\
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}th{background:#f0f0f0}\
td.l,th.l{text-align:left}.note{color:#666;font-size:.9em}svg{display:block;margin:.4em 0 1em}";

/// The page.
pub fn render(r: &Report) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>delta-hf report: {}</title>\
         <style>{STYLE}</style></head><body>\n<h1>delta-hf report</h1>\n<p>{}<br><span class=\"note\">run {} · {} · \
         {}</span></p>\n",
        escape(&r.output),
        escape(&r.output),
        escape(&r.run_id),
        escape(&r.created),
        escape(&r.tool)
    );
    if let Some(k) = &r.label_kind {
        let _ = writeln!(h, "<p>label kind: <b>{}</b>, {} labels</p>", escape(k), r.labels.len());
    }
    rows_table(&mut h, r);
    for sp in &r.splits {
        let _ = writeln!(h, "<h2>split {}</h2>", escape(&sp.name));
        let _ = writeln!(h, "<p class=\"note\">from {} (version {})</p>", escape(&sp.table), sp.version);
        class_bars(&mut h, sp);
        if let Some(c) = &sp.chars {
            lengths(&mut h, "text length (characters)", c, None);
        }
        if let Some(t) = &sp.tokens {
            lengths(&mut h, "text length (tokens)", &t.lengths, t.max_length);
            let _ = writeln!(
                h,
                "<p>{} of {} rows truncated ({:.2}%)</p>",
                t.truncated,
                t.lengths.count,
                t.truncated_share * 100.0
            );
        }
    }
    if let Some(hy) = &r.hygiene {
        hygiene(&mut h, hy);
    }
    h.push_str("</body></html>\n");
    h
}

/// Rows in, dropped by reason, rows out, per split.
fn rows_table(h: &mut String, r: &Report) {
    h.push_str("<h2>rows</h2>\n<table><tr><th class=\"l\">split</th><th>rows in</th><th class=\"l\">dropped</th><th>rows out</th></tr>\n");
    for sp in &r.splits {
        let dropped = match sp.dropped.is_empty() {
            true => "none".to_string(),
            false => sp
                .dropped
                .iter()
                .map(|(why, n)| format!("{n} {}", escape(&why.replace('_', " "))))
                .collect::<Vec<_>>()
                .join(", "),
        };
        let _ = writeln!(
            h,
            "<tr><td class=\"l\">{}</td><td>{}</td><td class=\"l\">{dropped}</td><td>{}</td></tr>",
            escape(&sp.name),
            sp.rows_in,
            sp.rows_out
        );
    }
    h.push_str("</table>\n");
}

/// Horizontal bars, one per class (or label), with its count and weight.
fn class_bars(h: &mut String, sp: &SplitReport) {
    let bars: Vec<(String, u64, String)> = match (&sp.classes, &sp.positives) {
        (Some(c), _) => {
            c.iter().map(|c| (c.label.clone(), c.count, format!("weight {:.4}", c.weight))).collect()
        }
        (_, Some(p)) => p
            .iter()
            .map(|p| (p.label.clone(), p.positives, format!("pos_weight {:.4}", p.pos_weight)))
            .collect(),
        _ => return,
    };
    let what = if sp.classes.is_some() { "class balance" } else { "positives per label" };
    let _ = writeln!(h, "<h3>{what}</h3>");
    let max = bars.iter().map(|b| b.1).max().unwrap_or(0).max(1);
    let (row, label_w, bar_w) = (18u64, 180u64, 420u64);
    let height = row * bars.len() as u64 + 4;
    let _ = writeln!(
        h,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" role=\"img\">",
        label_w + bar_w + 220
    );
    for (i, (label, n, weight)) in bars.iter().enumerate() {
        let y = i as u64 * row + 2;
        let w = (n * bar_w).div_ceil(max);
        let shown: String = label.chars().take(24).collect();
        let _ = writeln!(
            h,
            "<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"end\">{}</text>\
             <rect x=\"{}\" y=\"{y}\" width=\"{w}\" height=\"{}\" fill=\"#4878d0\"><title>{}: {n}</title></rect>\
             <text x=\"{}\" y=\"{}\" font-size=\"11\">{n} · {weight}</text>",
            label_w - 6,
            y + 12,
            escape(&shown),
            label_w,
            row - 4,
            escape(label),
            label_w + w + 6,
            y + 12
        );
    }
    h.push_str("</svg>\n");
}

/// The percentiles and a histogram, with the max-length cut drawn when given.
fn lengths(h: &mut String, title: &str, l: &LengthSummary, cut: Option<u64>) {
    // Two decimals at most on the page (report.json has the exact values).
    let f = |x: Option<f64>| {
        x.map(|v| format!("{:.2}", v).trim_end_matches('0').trim_end_matches('.').to_string())
            .unwrap_or_else(|| "–".into())
    };
    let _ = writeln!(
        h,
        "<h3>{title}</h3>\n<table><tr><th>rows</th><th>p50</th><th>p90</th><th>p99</th><th>max</th></tr>\
         <tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr></table>",
        l.count,
        f(l.p50),
        f(l.p90),
        f(l.p99),
        l.max.map(|m| m.to_string()).unwrap_or_else(|| "–".into())
    );
    if l.histogram.is_empty() {
        return;
    }
    let (w, ht, pad) = (640u64, 160u64, 30u64);
    let top = l.histogram.iter().map(|b| b[2]).max().unwrap_or(0).max(1);
    // The x axis runs to the last bin's end, or past the cut so it is always visible.
    let end = l.histogram.last().map(|b| b[1] + 1).unwrap_or(1).max(cut.map(|c| c + 1).unwrap_or(0));
    let x = |v: u64| pad + v * w / end;
    let _ = writeln!(
        h,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" role=\"img\">\
         <line x1=\"{pad}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#888\"/>",
        w + 2 * pad,
        ht + 2 * pad,
        ht + pad,
        w + pad,
        ht + pad
    );
    for b in &l.histogram {
        let bh = (b[2] * ht).div_ceil(top);
        let (x0, x1) = (x(b[0]), x(b[1] + 1));
        let _ = writeln!(
            h,
            "<rect x=\"{x0}\" y=\"{}\" width=\"{}\" height=\"{bh}\" fill=\"#6acc64\"><title>{}–{}: {}</title></rect>",
            ht + pad - bh,
            (x1 - x0).max(1),
            b[0],
            b[1],
            b[2]
        );
    }
    let _ = writeln!(
        h,
        "<text x=\"{pad}\" y=\"{}\" font-size=\"11\">0</text><text x=\"{}\" y=\"{}\" font-size=\"11\" \
         text-anchor=\"end\">{}</text>",
        ht + pad + 14,
        w + pad,
        ht + pad + 14,
        end - 1
    );
    if let Some(c) = cut {
        let cx = x(c);
        let _ = writeln!(
            h,
            "<line x1=\"{cx}\" y1=\"{}\" x2=\"{cx}\" y2=\"{}\" stroke=\"#d62728\" stroke-width=\"2\" \
             stroke-dasharray=\"5,3\"/><text x=\"{}\" y=\"{}\" font-size=\"11\" fill=\"#d62728\" \
             text-anchor=\"end\">max length {c}</text>",
            pad - 10,
            ht + pad,
            cx.saturating_sub(4),
            pad - 12
        );
    }
    h.push_str("</svg>\n");
}

/// Duplicates and leaks: counts per split, then the examples.
fn hygiene(h: &mut String, hy: &HygieneReport) {
    let _ = writeln!(
        h,
        "<h2>duplicates and leaks</h2>\n<p>dedup: {}, leaks: {}</p>\n<table><tr><th class=\"l\">split</th>\
         <th>duplicates</th><th>leaks</th></tr>",
        escape(hy.dedup.as_deref().unwrap_or("off")),
        escape(&hy.leaks)
    );
    for s in &hy.splits {
        let _ = writeln!(
            h,
            "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td></tr>",
            escape(&s.split),
            s.duplicates,
            s.leaks
        );
    }
    h.push_str("</table>\n");
    if hy.examples.is_empty() {
        return;
    }
    h.push_str(
        "<h3>examples</h3>\n<table><tr><th class=\"l\">kind</th><th class=\"l\">row</th><th class=\"l\">text</th>\
         <th class=\"l\">matches</th><th class=\"l\">its text</th><th>jaccard</th><th class=\"l\">dropped</th></tr>\n",
    );
    let text = |t: &Option<String>| escape(&t.as_deref().unwrap_or("").chars().take(200).collect::<String>());
    for e in &hy.examples {
        let _ = writeln!(
            h,
            "<tr><td class=\"l\">{}</td><td class=\"l\">{} #{}</td><td class=\"l\">{}</td><td class=\"l\">{} #{}</td>\
             <td class=\"l\">{}</td><td>{}</td><td class=\"l\">{}</td></tr>",
            escape(&e.kind),
            escape(&e.row.split),
            e.row.position,
            text(&e.row.text),
            escape(&e.matches.split),
            e.matches.position,
            text(&e.matches.text),
            e.jaccard.map(|j| format!("{j:.3}")).unwrap_or_default(),
            if e.dropped { "yes" } else { "no" }
        );
    }
    h.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::super::{HygieneExample, HygieneReport, HygieneRow, HygieneSplit, Report};
    use super::{escape, render};

    #[test]
    fn the_hygiene_section_shows_when_present_escaped() {
        let mut r = Report {
            format: super::super::FORMAT.into(),
            format_version: super::super::FORMAT_VERSION,
            run_id: "r".into(),
            created: "t".into(),
            tool: "delta-hf".into(),
            output: "/o".into(),
            label_kind: None,
            labels: vec![],
            weights: None,
            max_length: None,
            splits: vec![],
            hygiene: None,
        };
        assert!(!render(&r).contains("duplicates and leaks"));
        let row = |split: &str, text: &str| HygieneRow {
            split: split.into(),
            position: 7,
            text: Some(text.into()),
            ..Default::default()
        };
        r.hygiene = Some(HygieneReport {
            dedup: Some("exact".into()),
            leaks: "drop".into(),
            splits: vec![HygieneSplit { split: "test".into(), duplicates: 2, leaks: 1 }],
            examples: vec![HygieneExample {
                kind: "leak".into(),
                row: row("test", "<b>same</b> text"),
                matches: row("train", "<b>same</b> text"),
                jaccard: None,
                dropped: true,
            }],
        });
        let page = render(&r);
        assert!(page.contains("duplicates and leaks") && page.contains("&lt;b&gt;same&lt;/b&gt;"), "{page}");
        assert!(!page.contains("<b>same"), "{page}");
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(escape("<script>a&'b\"</script>"), "&lt;script&gt;a&amp;&#39;b&quot;&lt;/script&gt;");
    }
}
