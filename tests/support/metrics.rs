//! Scraping `/metrics` and a strict parser of the Prometheus text format 0.0.4, so a test
//! reads exposed values by family and labels. The parser refuses what a Prometheus server
//! would refuse and more: a sample before its `# TYPE`, a family split in two, a series twice,
//! a malformed name, label or value, and a histogram whose buckets are not cumulative, not in
//! order of `le`, or whose `+Inf` bucket is not its `_count`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A series' labels, sorted by name.
pub type Labels = Vec<(String, String)>;

/// One parsed scrape.
#[derive(Debug, Default)]
pub struct Scrape {
    /// Family name to its type.
    pub types: HashMap<String, String>,
    /// Every series: sample name and sorted labels, to its value.
    pub samples: BTreeMap<(String, Labels), f64>,
    pub text: String,
}

impl Scrape {
    /// The value of the sample `name` with exactly `labels` (in any order).
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut labels: Labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        labels.sort();
        self.samples.get(&(name.to_owned(), labels)).copied()
    }

    /// Like [`Scrape::value`], panicking with the scrape when absent.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.value(name, labels)
            .unwrap_or_else(|| panic!("no sample {name}{labels:?} in:\n{}", self.text))
    }

    /// Whether the family has at least one sample.
    pub fn has_family(&self, family: &str) -> bool {
        self.samples
            .keys()
            .any(|(name, _)| family_of(name, &self.types) == family)
    }

    /// Every label value of every sample.
    pub fn label_values(&self) -> impl Iterator<Item = &str> {
        self.samples
            .keys()
            .flat_map(|(_, labels)| labels.iter().map(|(_, v)| v.as_str()))
    }

    /// The values of the label `label` over the samples of `name`.
    pub fn values_of(&self, name: &str, label: &str) -> HashSet<String> {
        self.samples
            .keys()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, labels)| labels.iter().filter(|(k, _)| k == label))
            .map(|(_, v)| v.clone())
            .collect()
    }
}

fn family_of<'a>(sample: &'a str, types: &HashMap<String, String>) -> &'a str {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = sample.strip_suffix(suffix) {
            if types
                .get(base)
                .is_some_and(|t| t == "histogram" || t == "summary")
            {
                return base;
            }
        }
    }
    sample
}

fn valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parse_value(text: &str) -> Result<f64, String> {
    match text {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => text.parse().map_err(|_| format!("bad value {text:?}")),
    }
}

/// `{a="x",b="y"}` → labels, and the rest of the line.
fn parse_labels(rest: &str) -> Result<(Labels, &str), String> {
    let Some(mut rest) = rest.strip_prefix('{') else {
        return Ok((Vec::new(), rest));
    };
    let mut labels = Vec::new();
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        let eq = rest.find('=').ok_or("label without =")?;
        let name = &rest[..eq];
        if !valid_label_name(name) {
            return Err(format!("bad label name {name:?}"));
        }
        rest = rest[eq + 1..]
            .strip_prefix('"')
            .ok_or("label value not quoted")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next().ok_or("unterminated label value")? {
                (i, '"') => break i,
                (_, '\\') => match chars.next().ok_or("dangling escape")?.1 {
                    '\\' => value.push('\\'),
                    '"' => value.push('"'),
                    'n' => value.push('\n'),
                    other => return Err(format!("bad escape \\{other}")),
                },
                (_, '\n') => return Err("newline in a label value".into()),
                (_, c) => value.push(c),
            }
        };
        if labels.iter().any(|(n, _): &(String, String)| n == name) {
            return Err(format!("label {name} twice"));
        }
        labels.push((name.to_owned(), value));
        rest = &rest[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

/// Parses an exposition strictly.
pub fn parse(text: &str) -> Result<Scrape, String> {
    let mut scrape = Scrape {
        text: text.to_owned(),
        ..Scrape::default()
    };
    if !text.is_empty() && !text.ends_with('\n') {
        return Err("the exposition does not end with a newline".into());
    }
    let mut helped = HashSet::new();
    let mut finished: HashSet<String> = HashSet::new();
    let mut current: Option<String> = None;
    for (number, line) in text.lines().enumerate() {
        let fail = |why: String| format!("line {}: {why}: {line:?}", number + 1);
        if let Some(comment) = line.strip_prefix("# ") {
            let mut parts = comment.splitn(3, ' ');
            let (kind, name) = (parts.next(), parts.next().unwrap_or(""));
            let rest = parts.next().unwrap_or("");
            if !valid_metric_name(name) {
                return Err(fail("bad family name".into()));
            }
            if current.as_deref() != Some(name) {
                if let Some(previous) = current.take() {
                    finished.insert(previous);
                }
                if finished.contains(name) {
                    return Err(fail("family split in two".into()));
                }
                current = Some(name.to_owned());
            }
            match kind {
                Some("HELP") => {
                    if !helped.insert(name.to_owned()) {
                        return Err(fail("HELP twice".into()));
                    }
                }
                Some("TYPE") => {
                    let known = ["counter", "gauge", "histogram", "summary", "untyped"];
                    if !known.contains(&rest) {
                        return Err(fail("unknown type".into()));
                    }
                    if scrape
                        .types
                        .insert(name.to_owned(), rest.to_owned())
                        .is_some()
                    {
                        return Err(fail("TYPE twice".into()));
                    }
                }
                _ => return Err(fail("a comment that is neither HELP nor TYPE".into())),
            }
            continue;
        }
        if line.is_empty() || line.starts_with('#') {
            return Err(fail("an empty line or a bare comment".into()));
        }
        let name_end = line
            .find(['{', ' '])
            .ok_or_else(|| fail("no value".into()))?;
        let name = &line[..name_end];
        if !valid_metric_name(name) {
            return Err(fail("bad metric name".into()));
        }
        let (mut labels, rest) = parse_labels(&line[name_end..]).map_err(fail)?;
        let mut fields = rest.split(' ').filter(|f| !f.is_empty());
        let value =
            parse_value(fields.next().ok_or_else(|| fail("no value".into()))?).map_err(fail)?;
        if let Some(timestamp) = fields.next() {
            timestamp
                .parse::<i64>()
                .map_err(|_| fail("bad timestamp".into()))?;
        }
        if fields.next().is_some() {
            return Err(fail("trailing fields".into()));
        }
        let family = family_of(name, &scrape.types).to_owned();
        if !scrape.types.contains_key(&family) {
            return Err(fail("a sample before its family's TYPE".into()));
        }
        if current.as_deref() != Some(family.as_str()) {
            return Err(fail("a sample outside its family's group".into()));
        }
        labels.sort();
        if scrape
            .samples
            .insert((name.to_owned(), labels), value)
            .is_some()
        {
            return Err(fail("a series twice".into()));
        }
    }
    check_histograms(&scrape)?;
    Ok(scrape)
}

fn check_histograms(scrape: &Scrape) -> Result<(), String> {
    for (family, kind) in &scrape.types {
        if kind != "histogram" {
            continue;
        }
        let bucket = format!("{family}_bucket");
        // Series by their labels without `le`.
        let mut series: BTreeMap<Labels, Vec<(f64, f64)>> = BTreeMap::new();
        for ((name, labels), value) in &scrape.samples {
            if *name != bucket {
                continue;
            }
            let le = labels
                .iter()
                .find(|(k, _)| k == "le")
                .ok_or_else(|| format!("{bucket} without le"))?;
            let le = parse_value(&le.1)?;
            let rest: Vec<_> = labels.iter().filter(|(k, _)| k != "le").cloned().collect();
            series.entry(rest).or_default().push((le, *value));
        }
        for (labels, mut buckets) in series {
            buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
            if buckets.windows(2).any(|w| w[1].1 < w[0].1) {
                return Err(format!("{family}{labels:?}: buckets are not cumulative"));
            }
            let last = buckets.last().ok_or("no bucket")?;
            if last.0 != f64::INFINITY {
                return Err(format!("{family}{labels:?}: no +Inf bucket"));
            }
            let labels: Vec<(&str, &str)> = labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let count = scrape
                .value(&format!("{family}_count"), &labels)
                .ok_or_else(|| format!("{family}{labels:?}: no _count"))?;
            if count != last.1 {
                return Err(format!(
                    "{family}{labels:?}: _count {count} is not +Inf {}",
                    last.1
                ));
            }
            if scrape.value(&format!("{family}_sum"), &labels).is_none() {
                return Err(format!("{family}{labels:?}: no _sum"));
            }
        }
    }
    Ok(())
}

/// A plain-HTTP request to `addr`: the status, the head and the body.
pub async fn plain_http(addr: SocketAddr, method: &str, path: &str) -> (u16, String, String) {
    let exchange = async {
        let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let request =
            format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        tcp.write_all(request.as_bytes()).await.expect("write");
        let mut raw = Vec::new();
        tcp.read_to_end(&mut raw).await.expect("read");
        raw
    };
    let raw = tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .expect("the metrics listener answered within 10 s");
    let text = String::from_utf8(raw).expect("UTF-8");
    let (head, body) = text.split_once("\r\n\r\n").expect("a complete head");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    (status, head.to_owned(), body.to_owned())
}

/// `GET /metrics` on `addr`, checked (200, the 0.0.4 media type) and parsed strictly.
pub async fn scrape(addr: SocketAddr) -> Scrape {
    let (status, head, body) = plain_http(addr, "GET", "/metrics").await;
    assert_eq!(status, 200, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4; charset=utf-8"),
        "{head}"
    );
    parse(&body).unwrap_or_else(|e| panic!("{e}\n{body}"))
}

/// The address in a `... metrics at http://ADDR/metrics` log line.
pub fn metrics_addr(log: &str) -> Option<SocketAddr> {
    let at = log.find("metrics at http://")? + "metrics at http://".len();
    log[at..].split('/').next()?.parse().ok()
}
