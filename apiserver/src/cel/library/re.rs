//! A small RE2-syntax regular expression engine for `find` and `findAll`, which need match
//! positions: the apiserver reaches the `regex` crate only through CEL's `matches`, which
//! answers yes or no. Patterns compile to a Pike VM program, which keeps RE2's leftmost-first
//! match semantics and linear running time; syntax errors are worded as Go's `regexp/syntax`.
//!
//! Supported: literals and escapes, `.`, classes (`[a-z]`, `[^...]`, `[[:alpha:]]`, `\d\w\s`,
//! `\pL`-style general categories L, N, Lu, Ll), groups (capturing, `(?:...)`, named), flags
//! `i`, `m`, `s`, `U`, the quantifiers `* + ? {n} {n,} {n,m}` (lazy with `?`), alternation,
//! and the assertions `^ $ \A \z \b \B`.

/// Go's limit on counted repetition.
const MAX_REPEAT: u32 = 1000;

#[derive(Clone, Debug)]
enum ClassItem {
    Range(char, char),
    Digit(bool),
    Word(bool),
    Space(bool),
    Unicode(&'static str, bool),
}

#[derive(Clone, Debug)]
enum Node {
    Empty,
    Char(char, bool),
    Any(bool),
    Class(Vec<ClassItem>, bool, bool),
    LineStart,
    LineEnd,
    TextStart,
    TextEnd,
    WordBoundary(bool),
    Concat(Vec<Node>),
    Alt(Vec<Node>),
    Repeat {
        node: Box<Node>,
        min: u32,
        max: Option<u32>,
        greedy: bool,
    },
}

#[derive(Clone, Copy, Default)]
struct Flags {
    case_insensitive: bool,
    multi_line: bool,
    dot_nl: bool,
    ungreedy: bool,
}

struct Parser<'a> {
    src: &'a str,
    chars: Vec<char>,
    pos: usize,
}

/// Go's `regexp/syntax` error text for `pattern`.
fn syntax_error(code: &str, expr: &str) -> String {
    format!("error parsing regexp: {code}: `{expr}`")
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn rest(&self) -> String {
        self.chars[self.pos.min(self.chars.len())..]
            .iter()
            .collect()
    }

    fn parse_alt(&mut self, flags: &mut Flags, depth: usize) -> Result<Node, String> {
        let mut branches = vec![self.parse_concat(flags, depth)?];
        while self.peek() == Some('|') {
            self.pos += 1;
            branches.push(self.parse_concat(flags, depth)?);
        }
        Ok(if branches.len() == 1 {
            branches.pop().unwrap_or(Node::Empty)
        } else {
            Node::Alt(branches)
        })
    }

    fn parse_concat(&mut self, flags: &mut Flags, depth: usize) -> Result<Node, String> {
        let mut items: Vec<Node> = Vec::new();
        while let Some(c) = self.peek() {
            match c {
                '|' => break,
                ')' => {
                    if depth == 0 {
                        return Err(syntax_error("unexpected )", self.src));
                    }
                    break;
                }
                '*' | '+' | '?' => {
                    let start = self.pos;
                    self.pos += 1;
                    let (min, max) = match c {
                        '*' => (0, None),
                        '+' => (1, None),
                        _ => (0, Some(1)),
                    };
                    self.apply_repeat(&mut items, min, max, start, flags)?;
                }
                '{' => {
                    let start = self.pos;
                    match self.parse_counts()? {
                        Some((min, max)) => {
                            self.apply_repeat(&mut items, min, max, start, flags)?
                        }
                        None => {
                            self.pos = start + 1;
                            items.push(Node::Char('{', flags.case_insensitive));
                        }
                    }
                }
                _ => {
                    let atom = self.parse_atom(flags, depth)?;
                    items.push(atom);
                }
            }
        }
        Ok(match items.len() {
            0 => Node::Empty,
            1 => items.pop().unwrap_or(Node::Empty),
            _ => Node::Concat(items),
        })
    }

    fn apply_repeat(
        &mut self,
        items: &mut Vec<Node>,
        min: u32,
        max: Option<u32>,
        start: usize,
        flags: &Flags,
    ) -> Result<(), String> {
        let op: String = self.chars[start..self.pos].iter().collect();
        let Some(last) = items.pop() else {
            return Err(syntax_error("missing argument to repetition operator", &op));
        };
        let mut greedy = !flags.ungreedy;
        if self.peek() == Some('?') {
            self.pos += 1;
            greedy = !greedy;
        }
        if let Node::Repeat { .. } = last {
            let op: String = self.chars[start..self.pos].iter().collect();
            return Err(syntax_error("invalid nested repetition operator", &op));
        }
        items.push(Node::Repeat {
            node: Box::new(last),
            min,
            max,
            greedy,
        });
        Ok(())
    }

    /// `{n}`, `{n,}` or `{n,m}` at the cursor; `None` (cursor unmoved) when `{` is a literal.
    fn parse_counts(&mut self) -> Result<Option<(u32, Option<u32>)>, String> {
        let start = self.pos;
        self.pos += 1;
        let number = |p: &mut Self| -> Option<u32> {
            let s = p.pos;
            while p.peek().is_some_and(|c| c.is_ascii_digit()) {
                p.pos += 1;
            }
            if p.pos == s {
                return None;
            }
            let text: String = p.chars[s..p.pos].iter().collect();
            Some(text.parse::<u32>().unwrap_or(u32::MAX))
        };
        let Some(min) = number(self) else {
            self.pos = start;
            return Ok(None);
        };
        let max = if self.peek() == Some(',') {
            self.pos += 1;
            if self.peek() == Some('}') {
                None
            } else {
                match number(self) {
                    Some(m) => Some(m),
                    None => {
                        self.pos = start;
                        return Ok(None);
                    }
                }
            }
        } else {
            Some(min)
        };
        if self.peek() != Some('}') {
            self.pos = start;
            return Ok(None);
        }
        self.pos += 1;
        if min > MAX_REPEAT || max.is_some_and(|m| m > MAX_REPEAT || m < min) {
            let text: String = self.chars[start..self.pos].iter().collect();
            return Err(syntax_error("invalid repeat count", &text));
        }
        Ok(Some((min, max)))
    }

    fn parse_atom(&mut self, flags: &mut Flags, depth: usize) -> Result<Node, String> {
        let c = self.peek().unwrap_or('\0');
        self.pos += 1;
        Ok(match c {
            '.' => Node::Any(flags.dot_nl),
            '^' => {
                if flags.multi_line {
                    Node::LineStart
                } else {
                    Node::TextStart
                }
            }
            '$' => {
                if flags.multi_line {
                    Node::LineEnd
                } else {
                    Node::TextEnd
                }
            }
            '[' => self.parse_class(flags)?,
            '\\' => self.parse_escape(flags, false)?,
            '(' => self.parse_group(flags, depth)?,
            c => Node::Char(c, flags.case_insensitive),
        })
    }

    fn parse_group(&mut self, flags: &mut Flags, depth: usize) -> Result<Node, String> {
        let group_start = self.pos - 1;
        let mut inner_flags = *flags;
        if self.peek() == Some('?') {
            let rest = self.rest();
            if rest.starts_with("?P<") || rest.starts_with("?<") {
                let skip = if rest.starts_with("?P<") { 3 } else { 2 };
                let Some(end) = rest.find('>') else {
                    return Err(syntax_error("invalid named capture", &rest));
                };
                let name = &rest[skip..end];
                if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
                    return Err(syntax_error("invalid named capture", &rest[..=end]));
                }
                self.pos += rest[..=end].chars().count();
            } else {
                self.pos += 1;
                let mut negate = false;
                let mut any = false;
                loop {
                    match self.peek() {
                        Some('i') => inner_flags.case_insensitive = !negate,
                        Some('m') => inner_flags.multi_line = !negate,
                        Some('s') => inner_flags.dot_nl = !negate,
                        Some('U') => inner_flags.ungreedy = !negate,
                        Some('-') if !negate => negate = true,
                        Some(':') => {
                            self.pos += 1;
                            break;
                        }
                        Some(')') if any || negate => {
                            self.pos += 1;
                            *flags = inner_flags;
                            return Ok(Node::Empty);
                        }
                        _ => {
                            let text: String = self.chars
                                [group_start..=self.pos.min(self.chars.len() - 1)]
                                .iter()
                                .collect();
                            return Err(syntax_error("invalid or unsupported Perl syntax", &text));
                        }
                    }
                    any = true;
                    self.pos += 1;
                }
            }
        }
        let node = self.parse_alt(&mut inner_flags, depth + 1)?;
        if self.peek() != Some(')') {
            return Err(syntax_error("missing closing )", self.src));
        }
        self.pos += 1;
        Ok(node)
    }

    fn parse_escape(&mut self, flags: &Flags, in_class: bool) -> Result<Node, String> {
        let Some(c) = self.peek() else {
            return Err(syntax_error("trailing backslash at end of expression", ""));
        };
        self.pos += 1;
        let class = |item| Node::Class(vec![item], false, false);
        Ok(match c {
            'd' => class(ClassItem::Digit(false)),
            'D' => class(ClassItem::Digit(true)),
            'w' => class(ClassItem::Word(false)),
            'W' => class(ClassItem::Word(true)),
            's' => class(ClassItem::Space(false)),
            'S' => class(ClassItem::Space(true)),
            'p' | 'P' => {
                let name = if self.peek() == Some('{') {
                    let rest = self.rest();
                    let Some(end) = rest.find('}') else {
                        return Err(syntax_error(
                            "invalid character class range",
                            &format!("\\{c}{rest}"),
                        ));
                    };
                    self.pos += rest[..=end].chars().count();
                    rest[1..end].to_string()
                } else {
                    let n = self.peek().unwrap_or(' ');
                    self.pos += 1;
                    n.to_string()
                };
                let (name, negated) = match name.strip_prefix('^') {
                    Some(n) => (n.to_string(), c == 'p'),
                    None => (name, c == 'P'),
                };
                let known = match name.as_str() {
                    "L" => "L",
                    "Lu" => "Lu",
                    "Ll" => "Ll",
                    "N" | "Nd" => "N",
                    "Z" | "Zs" => "Z",
                    "P" => "P",
                    _ => {
                        return Err(syntax_error(
                            "invalid character class range",
                            &format!("\\{c}{{{name}}}"),
                        ));
                    }
                };
                class(ClassItem::Unicode(known, negated))
            }
            'b' if !in_class => Node::WordBoundary(true),
            'B' if !in_class => Node::WordBoundary(false),
            'A' if !in_class => Node::TextStart,
            'z' if !in_class => Node::TextEnd,
            'a' => Node::Char('\u{7}', false),
            'f' => Node::Char('\u{c}', false),
            't' => Node::Char('\t', false),
            'n' => Node::Char('\n', false),
            'r' => Node::Char('\r', false),
            'v' => Node::Char('\u{b}', false),
            'x' => {
                let hex: String = if self.peek() == Some('{') {
                    let rest = self.rest();
                    let end = rest.find('}').ok_or_else(|| {
                        syntax_error("invalid escape sequence", &format!("\\x{rest}"))
                    })?;
                    self.pos += rest[..=end].chars().count();
                    rest[1..end].to_string()
                } else {
                    let h: String = self.chars[self.pos..(self.pos + 2).min(self.chars.len())]
                        .iter()
                        .collect();
                    self.pos += h.chars().count();
                    h
                };
                let ch = u32::from_str_radix(&hex, 16)
                    .ok()
                    .and_then(char::from_u32)
                    .ok_or_else(|| syntax_error("invalid escape sequence", &format!("\\x{hex}")))?;
                Node::Char(ch, flags.case_insensitive)
            }
            c if c.is_ascii_punctuation() => Node::Char(c, flags.case_insensitive),
            c => return Err(syntax_error("invalid escape sequence", &format!("\\{c}"))),
        })
    }

    fn parse_class(&mut self, flags: &Flags) -> Result<Node, String> {
        let start = self.pos - 1;
        let mut negated = false;
        if self.peek() == Some('^') {
            negated = true;
            self.pos += 1;
        }
        let mut items = Vec::new();
        let mut first = true;
        loop {
            let Some(c) = self.peek() else {
                let text: String = self.chars[start..].iter().collect();
                return Err(syntax_error("missing closing ]", &text));
            };
            if c == ']' && !first {
                self.pos += 1;
                break;
            }
            first = false;
            if c == '[' && self.rest().starts_with("[:") {
                let rest = self.rest();
                if let Some(end) = rest[2..].find(":]") {
                    let name = &rest[2..2 + end];
                    let (name, neg) = match name.strip_prefix('^') {
                        Some(n) => (n, true),
                        None => (name, false),
                    };
                    let ranges: &[(char, char)] = match name {
                        "alnum" => &[('0', '9'), ('A', 'Z'), ('a', 'z')],
                        "alpha" => &[('A', 'Z'), ('a', 'z')],
                        "digit" => &[('0', '9')],
                        "lower" => &[('a', 'z')],
                        "upper" => &[('A', 'Z')],
                        "space" => &[('\t', '\r'), (' ', ' ')],
                        "xdigit" => &[('0', '9'), ('A', 'F'), ('a', 'f')],
                        "word" => &[('0', '9'), ('A', 'Z'), ('a', 'z'), ('_', '_')],
                        "punct" => &[('!', '/'), (':', '@'), ('[', '`'), ('{', '~')],
                        _ => {
                            return Err(syntax_error(
                                "invalid character class range",
                                &rest[..end + 4],
                            ));
                        }
                    };
                    self.pos += rest[..end + 4].chars().count();
                    if neg {
                        let mut complement = Vec::new();
                        let mut next = '\0';
                        for (lo, hi) in ranges {
                            if next < *lo {
                                complement.push(ClassItem::Range(next, prev_char(*lo)));
                            }
                            next = next_char(*hi);
                        }
                        complement.push(ClassItem::Range(next, char::MAX));
                        items.extend(complement);
                    } else {
                        items.extend(ranges.iter().map(|(lo, hi)| ClassItem::Range(*lo, *hi)));
                    }
                    continue;
                }
            }
            let lo = self.class_char(flags)?;
            let lo = match lo {
                Ok(ch) => ch,
                Err(item) => {
                    items.push(item);
                    continue;
                }
            };
            if self.peek() == Some('-') && self.chars.get(self.pos + 1).is_some_and(|c| *c != ']') {
                self.pos += 1;
                let hi = match self.class_char(flags)? {
                    Ok(ch) => ch,
                    Err(_) => {
                        let text: String = self.chars[start..self.pos].iter().collect();
                        return Err(syntax_error("invalid character class range", &text));
                    }
                };
                if hi < lo {
                    return Err(syntax_error(
                        "invalid character class range",
                        &format!("{lo}-{hi}"),
                    ));
                }
                items.push(ClassItem::Range(lo, hi));
            } else {
                items.push(ClassItem::Range(lo, lo));
            }
        }
        Ok(Node::Class(items, negated, flags.case_insensitive))
    }

    /// One class member: a character, or (as `Err`) a class escape such as `\d`.
    fn class_char(&mut self, flags: &Flags) -> Result<Result<char, ClassItem>, String> {
        let Some(c) = self.peek() else {
            return Err(syntax_error("missing closing ]", self.src));
        };
        self.pos += 1;
        if c != '\\' {
            return Ok(Ok(c));
        }
        match self.parse_escape(flags, true)? {
            Node::Char(ch, _) => Ok(Ok(ch)),
            Node::Class(mut items, _, _) if items.len() == 1 => {
                Ok(Err(items.pop().unwrap_or(ClassItem::Range('\0', '\0'))))
            }
            _ => Err(syntax_error("invalid escape sequence", self.src)),
        }
    }
}

fn prev_char(c: char) -> char {
    char::from_u32(u32::from(c).saturating_sub(1)).unwrap_or(c)
}

fn next_char(c: char) -> char {
    char::from_u32(u32::from(c) + 1).unwrap_or(c)
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn class_item_matches(item: &ClassItem, c: char, fold: bool) -> bool {
    match item {
        ClassItem::Range(lo, hi) => {
            (*lo..=*hi).contains(&c)
                || fold && {
                    let l = c.to_lowercase().next().unwrap_or(c);
                    let u = c.to_uppercase().next().unwrap_or(c);
                    (*lo..=*hi).contains(&l) || (*lo..=*hi).contains(&u)
                }
        }
        ClassItem::Digit(neg) => c.is_ascii_digit() != *neg,
        ClassItem::Word(neg) => is_word(c) != *neg,
        ClassItem::Space(neg) => matches!(c, '\t' | '\n' | '\u{c}' | '\r' | ' ') != *neg,
        ClassItem::Unicode(name, neg) => {
            let m = match *name {
                "L" => c.is_alphabetic(),
                "Lu" => c.is_uppercase(),
                "Ll" => c.is_lowercase(),
                "N" => c.is_numeric(),
                "Z" => c.is_whitespace() && !c.is_control(),
                "P" => c.is_ascii_punctuation(),
                _ => false,
            };
            m != *neg
        }
    }
}

#[derive(Clone, Debug)]
enum Inst {
    Char(char, bool),
    Any(bool),
    Class(Vec<ClassItem>, bool, bool),
    Assert(Assertion),
    Split(usize, usize),
    Jmp(usize),
    Match,
}

#[derive(Clone, Copy, Debug)]
enum Assertion {
    LineStart,
    LineEnd,
    TextStart,
    TextEnd,
    WordBoundary,
    NotWordBoundary,
}

fn compile_node(node: &Node, prog: &mut Vec<Inst>) {
    match node {
        Node::Empty => {}
        Node::Char(c, fold) => prog.push(Inst::Char(*c, *fold)),
        Node::Any(nl) => prog.push(Inst::Any(*nl)),
        Node::Class(items, neg, fold) => prog.push(Inst::Class(items.clone(), *neg, *fold)),
        Node::LineStart => prog.push(Inst::Assert(Assertion::LineStart)),
        Node::LineEnd => prog.push(Inst::Assert(Assertion::LineEnd)),
        Node::TextStart => prog.push(Inst::Assert(Assertion::TextStart)),
        Node::TextEnd => prog.push(Inst::Assert(Assertion::TextEnd)),
        Node::WordBoundary(true) => prog.push(Inst::Assert(Assertion::WordBoundary)),
        Node::WordBoundary(false) => prog.push(Inst::Assert(Assertion::NotWordBoundary)),
        Node::Concat(items) => items.iter().for_each(|n| compile_node(n, prog)),
        Node::Alt(branches) => {
            let mut jumps = Vec::new();
            for (i, b) in branches.iter().enumerate() {
                if i + 1 < branches.len() {
                    let split = prog.len();
                    prog.push(Inst::Split(split + 1, 0));
                    compile_node(b, prog);
                    jumps.push(prog.len());
                    prog.push(Inst::Jmp(0));
                    let next = prog.len();
                    prog[split] = Inst::Split(split + 1, next);
                } else {
                    compile_node(b, prog);
                }
            }
            let end = prog.len();
            for j in jumps {
                prog[j] = Inst::Jmp(end);
            }
        }
        Node::Repeat {
            node,
            min,
            max,
            greedy,
        } => {
            for _ in 0..*min {
                compile_node(node, prog);
            }
            match max {
                None => {
                    let split = prog.len();
                    prog.push(Inst::Split(0, 0));
                    compile_node(node, prog);
                    prog.push(Inst::Jmp(split));
                    let end = prog.len();
                    prog[split] = if *greedy {
                        Inst::Split(split + 1, end)
                    } else {
                        Inst::Split(end, split + 1)
                    };
                }
                Some(max) => {
                    let mut splits = Vec::new();
                    for _ in *min..*max {
                        splits.push(prog.len());
                        prog.push(Inst::Split(0, 0));
                        compile_node(node, prog);
                    }
                    let end = prog.len();
                    for s in splits {
                        prog[s] = if *greedy {
                            Inst::Split(s + 1, end)
                        } else {
                            Inst::Split(end, s + 1)
                        };
                    }
                }
            }
        }
    }
}

/// A compiled pattern.
pub(in crate::cel) struct Regex {
    prog: Vec<Inst>,
}

impl Regex {
    /// Compiles a Go (RE2) pattern, or returns Go's error text.
    pub(in crate::cel) fn new(pattern: &str) -> Result<Regex, String> {
        let mut parser = Parser {
            src: pattern,
            chars: pattern.chars().collect(),
            pos: 0,
        };
        let mut flags = Flags::default();
        let node = parser.parse_alt(&mut flags, 0)?;
        if parser.pos < parser.chars.len() {
            return Err(syntax_error("unexpected )", pattern));
        }
        let mut prog = Vec::new();
        compile_node(&node, &mut prog);
        prog.push(Inst::Match);
        Ok(Regex { prog })
    }

    /// The leftmost-first match at or after character index `from`, as character indices.
    fn find_at(&self, text: &[char], from: usize) -> Option<(usize, usize)> {
        let n = self.prog.len();
        let mut clist: Vec<(usize, usize)> = Vec::new();
        let mut nlist: Vec<(usize, usize)> = Vec::new();
        let mut matched: Option<(usize, usize)> = None;
        let mut seen = vec![usize::MAX; n];
        for pos in from..=text.len() {
            if matched.is_none() {
                self.add(&mut clist, &mut seen, pos, 0, pos, text);
            }
            if clist.is_empty() {
                break;
            }
            nlist.clear();
            let next_gen = pos + 1;
            for &(pc, start) in clist.iter() {
                let c = text.get(pos).copied();
                let advance = match (&self.prog[pc], c) {
                    (Inst::Match, _) => {
                        matched = Some((start, pos));
                        break;
                    }
                    (Inst::Char(want, fold), Some(c)) => {
                        *want == c
                            || *fold
                                && (want.to_lowercase().eq(c.to_lowercase())
                                    || want.to_uppercase().eq(c.to_uppercase()))
                    }
                    (Inst::Any(nl), Some(c)) => *nl || c != '\n',
                    (Inst::Class(items, neg, fold), Some(c)) => {
                        items.iter().any(|i| class_item_matches(i, c, *fold)) != *neg
                    }
                    _ => false,
                };
                if advance {
                    self.add(&mut nlist, &mut seen, next_gen, pc + 1, start, text);
                }
            }
            std::mem::swap(&mut clist, &mut nlist);
        }
        matched
    }

    /// Adds the thread at `pc` to `list`, following jumps, splits (in priority order) and
    /// assertions at character index `pos`.
    fn add(
        &self,
        list: &mut Vec<(usize, usize)>,
        seen: &mut [usize],
        pos: usize,
        pc: usize,
        start: usize,
        text: &[char],
    ) {
        if seen[pc] == pos {
            return;
        }
        seen[pc] = pos;
        match &self.prog[pc] {
            Inst::Jmp(to) => self.add(list, seen, pos, *to, start, text),
            Inst::Split(a, b) => {
                self.add(list, seen, pos, *a, start, text);
                self.add(list, seen, pos, *b, start, text);
            }
            Inst::Assert(a) => {
                let before = pos.checked_sub(1).and_then(|i| text.get(i)).copied();
                let after = text.get(pos).copied();
                let ok = match a {
                    Assertion::TextStart => pos == 0,
                    Assertion::TextEnd => pos == text.len(),
                    Assertion::LineStart => before.is_none_or(|c| c == '\n'),
                    Assertion::LineEnd => after.is_none_or(|c| c == '\n'),
                    Assertion::WordBoundary | Assertion::NotWordBoundary => {
                        let boundary = before.is_some_and(is_word) != after.is_some_and(is_word);
                        boundary == matches!(a, Assertion::WordBoundary)
                    }
                };
                if ok {
                    self.add(list, seen, pos, pc + 1, start, text);
                }
            }
            _ => list.push((pc, start)),
        }
    }

    /// Go's `FindString`.
    pub(in crate::cel) fn find(&self, s: &str) -> Option<String> {
        let text: Vec<char> = s.chars().collect();
        self.find_at(&text, 0)
            .map(|(a, b)| text[a..b].iter().collect())
    }

    /// Go's `FindAllString` with at most `limit` matches (all when negative): successive
    /// non-overlapping matches, ignoring an empty match right after a previous match.
    pub(super) fn find_all(&self, s: &str, limit: i64) -> Vec<String> {
        let text: Vec<char> = s.chars().collect();
        let limit = usize::try_from(limit).unwrap_or(text.len() + 1);
        let mut out = Vec::new();
        let mut pos = 0;
        let mut prev_end: Option<usize> = None;
        while out.len() < limit && pos <= text.len() {
            let Some((a, b)) = self.find_at(&text, pos) else {
                break;
            };
            let mut accept = true;
            if b == a {
                if prev_end == Some(a) {
                    accept = false;
                }
                pos = b + 1;
            } else {
                pos = b;
            }
            prev_end = Some(b);
            if accept {
                out.push(text[a..b].iter().collect());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_like_go() {
        let re = Regex::new("[0-9]+").unwrap();
        assert_eq!(re.find("abc 123").as_deref(), Some("123"));
        assert_eq!(re.find_all("123 abc 456", -1), vec!["123", "456"]);
        assert_eq!(re.find_all("123 abc 456", 1), vec!["123"]);
        assert_eq!(Regex::new("xyz").unwrap().find("abc"), None);
        assert_eq!(Regex::new("a|ab").unwrap().find("ab").as_deref(), Some("a"));
        assert_eq!(
            Regex::new("ab|a").unwrap().find("ab").as_deref(),
            Some("ab")
        );
        assert_eq!(
            Regex::new("a*?b").unwrap().find("aab").as_deref(),
            Some("aab")
        );
        assert_eq!(Regex::new("^a").unwrap().find_all("aa", -1), vec!["a"]);
        assert_eq!(
            Regex::new("a*").unwrap().find_all("baaac", -1),
            vec!["", "aaa", ""]
        );
        assert_eq!(
            Regex::new(r"\bfoo\b").unwrap().find("a foo b").as_deref(),
            Some("foo")
        );
        assert_eq!(
            Regex::new("(?i)ABC").unwrap().find("xabcx").as_deref(),
            Some("abc")
        );
        assert_eq!(
            Regex::new("[[:digit:]]{2,3}")
                .unwrap()
                .find("a12345")
                .as_deref(),
            Some("123")
        );
        assert_eq!(
            Regex::new("[").err().as_deref(),
            Some("error parsing regexp: missing closing ]: `[`")
        );
        assert_eq!(
            Regex::new("a)").err().as_deref(),
            Some("error parsing regexp: unexpected ): `a)`")
        );
        assert_eq!(
            Regex::new("*").err().as_deref(),
            Some("error parsing regexp: missing argument to repetition operator: `*`")
        );
    }
}
