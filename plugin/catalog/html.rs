//! The static HTML catalog (`catalog html`): an index with search and filters and one page
//! per rule with everything `explain` shows, neighbours linked. Plain files with relative
//! links: no server, no network, no external script or style.
//!
//! Layout of the output folder:
//! - `index.html`: search box, filters (tactic, technique, level, status, logsource), the
//!   list of matching rules. The filters also read the URL fragment
//!   (`index.html#q=psexec&level=high`), so a search can be linked;
//! - `rules/<slug>.html`: one page per rule (`slug` is the rule id, lowercased);
//! - `assets/style.css`, `assets/catalog.js`, `assets/data.js` (the rule list for the index).

use std::fmt::Write as _;
use std::path::Path;

use serde_json::json;

use super::Catalog;
use super::page::{NeighbourRef, RulePage, event_lines};

const STYLE: &str = r#"
:root { --fg:#1d232b; --muted:#5b6673; --line:#d9dee5; --bg:#fff; --accent:#1f5fae; --soft:#f3f6fa; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); margin: 0; }
header { background: #18324f; color: #fff; padding: 14px 24px; }
header a { color: #fff; text-decoration: none; font-weight: 600; }
main { max-width: 1200px; margin: 0 auto; padding: 16px 24px 48px; }
h1 { font-size: 24px; margin: 8px 0 4px; }
h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; margin: 16px 0 6px; }
a { color: var(--accent); }
code, .mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 13px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.meta td:first-child { color: var(--muted); width: 120px; }
.level { display: inline-block; padding: 0 6px; border-radius: 3px; font-size: 12px; font-weight: 600; color: #fff; background: #7b8794; }
.level-critical { background: #8e1b1b; } .level-high { background: #c2410c; } .level-medium { background: #b7791f; }
.level-low { background: #2f855a; } .level-informational { background: #4a6fa5; }
.filters { display: flex; flex-wrap: wrap; gap: 8px; margin: 12px 0; }
.filters input { flex: 1 1 320px; padding: 7px 10px; font-size: 15px; border: 1px solid var(--line); border-radius: 4px; }
.filters select { padding: 6px; border: 1px solid var(--line); border-radius: 4px; max-width: 260px; }
#count { color: var(--muted); margin: 6px 0 10px; }
.stage { background: var(--soft); border: 1px solid var(--line); border-radius: 4px; padding: 8px 12px; margin: 8px 0; }
.stage .cond { font-weight: 600; }
.stage.exclusion { border-left: 4px solid #c2410c; }
.search { margin: 4px 0 4px 12px; }
.search ul { margin: 2px 0; padding-left: 22px; }
.note { color: var(--muted); font-size: 13px; }
.warn { background: #fff4e5; border: 1px solid #f0c36d; padding: 8px 12px; border-radius: 4px; }
ul.nb { padding-left: 20px; margin: 4px 0; }
ul.nb li { margin: 2px 0; }
.diff { color: var(--muted); font-size: 13px; }
"#;

const SCRIPT: &str = r#"
(function () {
  var data = window.CATALOG;
  var $ = function (id) { return document.getElementById(id); };
  var fields = ['q', 'tactic', 'technique', 'level', 'status', 'logsource'];
  function esc(s) { return String(s).replace(/[&<>"']/g, function (c) { return {'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]; }); }
  function fill(id, entries) {
    var sel = $(id);
    entries.forEach(function (e) { var o = document.createElement('option'); o.value = e[0]; o.textContent = e[1]; sel.appendChild(o); });
  }
  function uniq(key) {
    var seen = {}; data.rules.forEach(function (r) { var v = r[key]; (Array.isArray(v) ? v : [v]).forEach(function (x) { if (x) seen[x] = (seen[x] || 0) + 1; }); });
    return seen;
  }
  var tac = uniq('ta'); fill('tactic', Object.keys(tac).sort().map(function (k) { return [k, k + ' ' + (data.tactics[k] || '') + ' (' + tac[k] + ')']; }));
  var tec = uniq('te'); fill('technique', Object.keys(tec).sort().map(function (k) { return [k, k + ' ' + (data.techniques[k] || '') + ' (' + tec[k] + ')']; }));
  var lv = uniq('l'); fill('level', ['critical', 'high', 'medium', 'low', 'informational'].filter(function (k) { return lv[k]; }).map(function (k) { return [k, k + ' (' + lv[k] + ')']; }));
  var st = uniq('st'); fill('status', Object.keys(st).sort().map(function (k) { return [k, k + ' (' + st[k] + ')']; }));
  var ls = uniq('ls'); fill('logsource', Object.keys(ls).sort().map(function (k) { return [k, k + ' (' + ls[k] + ')']; }));
  data.rules.forEach(function (r) {
    r.hay = [r.t, r.i, r.d, r.f, r.ls, (r.ta || []).join(' '), (r.te || []).join(' '), (r.tags || []).join(' ')].join(' ').toLowerCase();
  });
  function readHash() {
    var h = location.hash.replace(/^#/, '');
    h.split('&').forEach(function (kv) {
      if (!kv) return;
      var i = kv.indexOf('='); var k = decodeURIComponent(i < 0 ? kv : kv.slice(0, i)); var v = i < 0 ? '' : decodeURIComponent(kv.slice(i + 1).replace(/\+/g, ' '));
      if (fields.indexOf(k) >= 0) $(k).value = v;
    });
  }
  function writeHash() {
    var parts = [];
    fields.forEach(function (k) { var v = $(k).value; if (v) parts.push(k + '=' + encodeURIComponent(v)); });
    var h = parts.length ? '#' + parts.join('&') : '';
    if (history.replaceState) history.replaceState(null, '', h || location.pathname); else location.hash = h;
  }
  function render() {
    var q = $('q').value.toLowerCase().split(/\s+/).filter(Boolean);
    var f = {}; fields.slice(1).forEach(function (k) { f[k] = $(k).value; });
    var rows = [];
    var n = 0;
    data.rules.forEach(function (r) {
      if (f.tactic && (r.ta || []).indexOf(f.tactic) < 0) return;
      if (f.technique && (r.te || []).indexOf(f.technique) < 0) return;
      if (f.level && r.l !== f.level) return;
      if (f.status && r.st !== f.status) return;
      if (f.logsource && r.ls !== f.logsource) return;
      for (var i = 0; i < q.length; i++) if (r.hay.indexOf(q[i]) < 0) return;
      n++;
      rows.push('<tr class="rule" data-slug="' + esc(r.s) + '"><td><a href="rules/' + encodeURIComponent(r.s) + '.html">' + esc(r.t) + '</a></td>' +
        '<td><span class="level level-' + esc(r.l || '') + '">' + esc(r.l || '-') + '</span></td><td>' + esc(r.st || '') + '</td>' +
        '<td class="mono">' + esc(r.ls) + '</td><td class="mono">' + esc((r.te || []).join(' ')) + '</td></tr>');
    });
    $('results').innerHTML = rows.join('');
    $('count').textContent = n + ' of ' + data.rules.length + ' rules';
  }
  function update() { writeHash(); render(); }
  readHash();
  fields.forEach(function (k) { $(k).addEventListener(k === 'q' ? 'input' : 'change', update); });
  window.addEventListener('hashchange', function () { fields.forEach(function (k) { $(k).value = ''; }); readHash(); render(); });
  render();
})();
"#;

/// HTML text escaping (also safe in attribute values).
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn level_badge(l: Option<&str>) -> String {
    let l = l.unwrap_or("-");
    format!("<span class=\"level level-{}\">{}</span>", esc(l), esc(l))
}

fn head(title: &str, root: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><link rel=\"stylesheet\" href=\"{root}assets/style.css\"></head>\n<body><header><a href=\"{root}index.html\">Sigma rule catalog</a></header><main>\n",
        esc(title)
    )
}

fn neighbour_list(
    out: &mut String,
    id: &str,
    head: &str,
    note: &str,
    v: &[NeighbourRef],
    total: usize,
    same: bool,
) {
    let _ = writeln!(
        out,
        "<section id=\"{id}\"><h3>{} <span class=\"note\">({total})</span></h3>",
        esc(head)
    );
    if !note.is_empty() {
        let _ = writeln!(out, "<p class=\"note\">{}</p>", esc(note));
    }
    if v.is_empty() {
        let _ = writeln!(out, "<p class=\"note\">None.</p></section>");
        return;
    }
    let _ = writeln!(out, "<ul class=\"nb\">");
    for n in v {
        let diff = match (n.adds, n.drops) {
            (0, 0) => "same predicates".to_string(),
            (a, 0) => format!("adds {a} filter{}", if a == 1 { "" } else { "s" }),
            (0, d) => format!("drops {d} filter{}", if d == 1 { "" } else { "s" }),
            (a, d) => format!("adds {a}, drops {d} filters"),
        };
        let shared = if same {
            format!(
                "; {} shared indicator{}",
                n.shared,
                if n.shared == 1 { "" } else { "s" }
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "<li><a class=\"neighbour\" href=\"{}.html\">{}</a> {} <span class=\"diff\">{}{}</span></li>",
            esc(&n.slug),
            esc(&n.title),
            level_badge(n.level.as_deref()),
            esc(&diff),
            esc(&shared)
        );
    }
    if total > v.len() {
        let _ = writeln!(
            out,
            "<li class=\"note\">… and {} more</li>",
            total - v.len()
        );
    }
    let _ = writeln!(out, "</ul></section>");
}

/// One rule page.
pub fn rule_page(p: &RulePage) -> String {
    let mut o = head(&p.title, "../");
    let _ = writeln!(o, "<h1 id=\"title\">{}</h1>", esc(&p.title));
    let _ = writeln!(o, "<table class=\"meta\">");
    let row = |o: &mut String, k: &str, v: &str| {
        let _ = writeln!(o, "<tr><td>{}</td><td>{v}</td></tr>", esc(k));
    };
    if let Some(id) = &p.id {
        row(&mut o, "id", &format!("<code>{}</code>", esc(id)));
    }
    row(&mut o, "level", &level_badge(p.level.as_deref()));
    for (k, v) in [
        ("status", &p.status),
        ("author", &p.author),
        ("date", &p.date),
        ("modified", &p.modified),
    ] {
        if let Some(v) = v {
            row(&mut o, k, &esc(v));
        }
    }
    row(&mut o, "file", &format!("<code>{}</code>", esc(&p.path)));
    row(
        &mut o,
        "logsource",
        &format!("<code>{}</code>", esc(&p.event_coverage.logsource)),
    );
    if !p.tags.is_empty() {
        row(&mut o, "tags", &esc(&p.tags.join(", ")));
    }
    let _ = writeln!(o, "</table>");
    if p.disabled {
        let _ = writeln!(
            o,
            "<p class=\"warn\">The matcher disabled this rule (a value over a size limit): it never fires.</p>"
        );
    }
    if let Some(d) = &p.description {
        let _ = writeln!(o, "<p id=\"description\">{}</p>", esc(d.trim()));
    }
    if !p.falsepositives.is_empty() {
        let _ = writeln!(
            o,
            "<p><b>False positives:</b> {}</p>",
            esc(&p.falsepositives.join("; "))
        );
    }

    if !p.filters.is_empty() {
        let _ = writeln!(
            o,
            "<p id=\"filters\"><b>Filters applied</b> (the rule fires only where each holds):</p><ul>"
        );
        for f in &p.filters {
            let _ = writeln!(o, "<li>{}</li>", esc(&f.line()));
        }
        let _ = writeln!(o, "</ul>");
    }
    let _ = writeln!(o, "<h2 id=\"attack\">MITRE ATT&amp;CK coverage</h2>");
    if p.attack.tactics.is_empty() && p.attack.techniques.is_empty() {
        let _ = writeln!(o, "<p class=\"note\">No ATT&amp;CK tags.</p>");
    } else {
        let _ = writeln!(
            o,
            "<table><tr><th>kind</th><th>id</th><th>name</th><th>tactics of the technique</th></tr>"
        );
        for t in &p.attack.tactics {
            let _ = writeln!(
                o,
                "<tr><td>Tactic</td><td><code>{}</code></td><td>{}</td><td></td></tr>",
                esc(&t.id),
                esc(&t.name)
            );
        }
        for t in &p.attack.techniques {
            let ts: Vec<String> = t.tactics.iter().map(|x| x.name.clone()).collect();
            let _ = writeln!(
                o,
                "<tr><td>Technique</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                esc(&t.id),
                esc(&t.name),
                esc(&ts.join(", "))
            );
        }
        let _ = writeln!(o, "</table>");
    }

    let _ = writeln!(o, "<h2 id=\"events\">Event coverage</h2>");
    if p.event_coverage.mapped && !p.event_coverage.events.is_empty() {
        let _ = writeln!(
            o,
            "<table><tr><th>provider</th><th>channel</th><th>event id</th><th>title</th></tr>"
        );
        for e in &p.event_coverage.events {
            let _ = writeln!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(e.provider.as_deref().unwrap_or("")),
                esc(e.channel.as_deref().unwrap_or("any")),
                esc(e.event_id.as_deref().unwrap_or("any")),
                esc(e.title.as_deref().unwrap_or(""))
            );
        }
        let _ = writeln!(o, "</table>");
    } else {
        for l in event_lines(&p.event_coverage) {
            let _ = writeln!(o, "<p class=\"warn\">{}</p>", esc(&l));
        }
    }

    let _ = writeln!(
        o,
        "<h2 id=\"stages\">Stages and predicates</h2><p>Condition: <code>{}</code></p>",
        esc(&p.condition)
    );
    for s in &p.stages {
        let _ = writeln!(
            o,
            "<div class=\"stage{}\"><div class=\"cond\">Stage {}: <code>{}</code></div>",
            if s.exclusion { " exclusion" } else { "" },
            s.number,
            esc(&s.condition)
        );
        for sv in &s.searches {
            let _ = writeln!(
                o,
                "<div class=\"search\"><code>{}</code> — {}<ul>",
                esc(&sv.name),
                if sv.combine == "all" {
                    "all of"
                } else {
                    "one of"
                }
            );
            for g in &sv.groups {
                let preds: Vec<String> = g
                    .iter()
                    .map(|p| {
                        let vals: Vec<String> = p
                            .values
                            .iter()
                            .map(|v| format!("<code>{}</code>", esc(v)))
                            .collect();
                        format!("<code>{}</code>: {}", esc(&p.key), vals.join(", "))
                    })
                    .collect();
                let _ = writeln!(o, "<li>{}</li>", preds.join(" <b>and</b> "));
            }
            let _ = writeln!(o, "</ul></div>");
        }
        let _ = writeln!(o, "</div>");
    }

    let _ = writeln!(o, "<h2 id=\"indicators\">Indicators</h2>");
    if p.indicators.is_empty() {
        let _ = writeln!(o, "<p class=\"note\">None besides the event coverage.</p>");
    } else {
        let _ = writeln!(
            o,
            "<table><tr><th>field</th><th>operator</th><th>value</th><th title=\"loaded rules looking for the same field, operator and value (this rule included)\">corpus</th></tr>"
        );
        for i in &p.indicators {
            let _ = writeln!(
                o,
                "<tr><td><code>{}</code></td><td>{}</td><td><code>{}</code></td><td class=\"num\">{}</td></tr>",
                esc(&i.field),
                esc(&i.op),
                esc(&i.value),
                i.corpus
            );
        }
        let _ = writeln!(
            o,
            "</table><p class=\"note\">Corpus: loaded rules looking for the same field, operator and value, this rule included (1 = specific to this rule; high = a widely used indicator).</p>"
        );
    }

    let n = &p.neighbours;
    let _ = writeln!(o, "<h2 id=\"neighbours\">Neighbours</h2>");
    neighbour_list(
        &mut o,
        "stricter",
        "Stricter alternatives",
        "Every event these rules match, this rule matches too: quieter choices when this rule is too noisy.",
        &n.stricter,
        n.stricter.len(),
        false,
    );
    neighbour_list(
        &mut o,
        "broader",
        "Broader alternatives",
        "These rules match every event this rule matches, and possibly more: wider coverage.",
        &n.broader,
        n.broader.len(),
        false,
    );
    neighbour_list(
        &mut o,
        "equivalent",
        "Equivalent rules",
        "These rules match exactly the same events.",
        &n.equivalent,
        n.equivalent.len(),
        false,
    );
    neighbour_list(
        &mut o,
        "same-events",
        "Same events, other filters",
        "Rules on the same events (same event coverage) with different predicates, the most similar first.",
        &n.same_events,
        n.same_events_total,
        true,
    );
    let _ = writeln!(o, "</main></body></html>");
    o
}

/// The index page.
pub fn index_page(rules: usize) -> String {
    let mut o = head("Sigma rule catalog", "");
    let _ = writeln!(
        o,
        "<h1>Sigma rule catalog</h1><p class=\"note\">{rules} rules. Search titles, ids, descriptions, tags and files; narrow by tactic, technique, level, status or logsource.</p>\
         <div class=\"filters\"><input id=\"q\" type=\"search\" placeholder=\"Search rules…\" autofocus>\
         <select id=\"tactic\"><option value=\"\">any tactic</option></select>\
         <select id=\"technique\"><option value=\"\">any technique</option></select>\
         <select id=\"level\"><option value=\"\">any level</option></select>\
         <select id=\"status\"><option value=\"\">any status</option></select>\
         <select id=\"logsource\"><option value=\"\">any logsource</option></select></div>\
         <div id=\"count\"></div>\
         <table><thead><tr><th>title</th><th>level</th><th>status</th><th>logsource</th><th>techniques</th></tr></thead><tbody id=\"results\"></tbody></table>\
         <noscript><p class=\"warn\">The search needs JavaScript.</p></noscript>\
         <script src=\"assets/data.js\"></script><script src=\"assets/catalog.js\"></script></main></body></html>"
    );
    o
}

/// The data of the index.
pub fn index_data(cat: &Catalog) -> String {
    let mut tactics = serde_json::Map::new();
    let mut techniques = serde_json::Map::new();
    let rules: Vec<serde_json::Value> = cat
        .rules()
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let info = cat.info(i);
            for t in &info.attack.tactics {
                tactics.insert(t.id.clone(), json!(t.name));
            }
            for t in &info.attack.techniques {
                techniques.insert(t.id.clone(), json!(t.name));
            }
            let desc: String = r
                .meta
                .description
                .as_deref()
                .unwrap_or("")
                .chars()
                .take(300)
                .collect();
            json!({
                "s": info.slug,
                "t": r.meta.title,
                "i": r.meta.id,
                "l": r.meta.level,
                "st": r.meta.status,
                "ls": r.logsource.to_string(),
                "ta": info.attack.tactics.iter().map(|t| t.id.clone()).collect::<Vec<_>>(),
                "te": info.attack.techniques.iter().map(|t| t.id.clone()).collect::<Vec<_>>(),
                "tags": r.meta.tags,
                "d": desc,
                "f": r.path.file_name().map(|f| f.to_string_lossy().into_owned()),
            })
        })
        .collect();
    let data = json!({"rules": rules, "tactics": tactics, "techniques": techniques});
    format!("window.CATALOG = {};\n", data)
}

/// What `write_site` wrote.
#[derive(Clone, Debug, Default)]
pub struct SiteReport {
    pub pages: usize,
    pub bytes: u64,
}

/// Writes the whole site into `out` (created if missing; existing rule pages are
/// replaced).
pub fn write_site(cat: &Catalog, out: &Path) -> std::io::Result<SiteReport> {
    std::fs::create_dir_all(out.join("rules"))?;
    std::fs::create_dir_all(out.join("assets"))?;
    let mut report = SiteReport::default();
    let mut write = |p: &Path, text: &str| -> std::io::Result<()> {
        std::fs::write(p, text)?;
        report.bytes += text.len() as u64;
        Ok(())
    };
    write(&out.join("assets/style.css"), STYLE)?;
    write(&out.join("assets/catalog.js"), SCRIPT)?;
    write(&out.join("assets/data.js"), &index_data(cat))?;
    write(&out.join("index.html"), &index_page(cat.rules().len()))?;
    for i in 0..cat.rules().len() {
        let page = cat.page(i);
        write(
            &out.join("rules").join(format!("{}.html", page.slug)),
            &rule_page(&page),
        )?;
        report.pages += 1;
    }
    Ok(report)
}
