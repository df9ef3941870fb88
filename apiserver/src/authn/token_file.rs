//! `--token-auth-file`: a CSV of `token,user,uid[,"group1,group2"]`.

use super::user::UserInfo;
use std::collections::HashMap;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("reading token file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("token file {path}, line {line}: {reason}")]
    Line {
        path: String,
        line: usize,
        reason: String,
    },
}

/// Splits one CSV line, honouring double quotes.
fn fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

pub fn load(path: &Path) -> Result<HashMap<String, UserInfo>, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.display().to_string(),
        source,
    })?;
    parse(&text).map_err(|(line, reason)| Error::Line {
        path: path.display().to_string(),
        line,
        reason,
    })
}

pub fn parse(text: &str) -> Result<HashMap<String, UserInfo>, (usize, String)> {
    let mut tokens = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f = fields(line);
        if f.len() < 3 {
            return Err((
                i + 1,
                "expected at least 3 columns: token,user,uid".to_string(),
            ));
        }
        let groups = f
            .get(3)
            .map(|g| {
                g.split(',')
                    .map(str::trim)
                    .filter(|g| !g.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        tokens.insert(
            f[0].trim().to_string(),
            UserInfo {
                name: f[1].trim().to_string(),
                uid: f[2].trim().to_string(),
                groups,
                ..Default::default()
            },
        );
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_csv_with_groups() {
        let t = parse("abc,alice,1,\"dev,ops\"\n# comment\nxyz,bob,2\n").unwrap();
        assert_eq!(t["abc"].name, "alice");
        assert_eq!(t["abc"].groups, vec!["dev", "ops"]);
        assert!(t["xyz"].groups.is_empty());
        assert!(parse("only,two").is_err());
    }
}
