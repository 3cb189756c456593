//! Split patterns with a linear-time guarantee wherever their constructs allow one.
//!
//! tiktoken and HF patterns are backtracking regexes (fancy-regex, Oniguruma). A backtracking
//! engine gives up on long inputs: DeepSeek-V4's pattern failed with "backtracking count
//! exceeded" on 200k NUL characters and "Max stack size exceeded" on 1M spaces (HF encodes them
//! in 0.1-0.4 s). So a pattern is matched by the regex crate's engines (linear in the text)
//! whenever it is regular except for look-aheads at the very end of top-level alternatives, the
//! form real tokenizer patterns use (`\s+(?!\S)`):
//!
//! * `X(?=Y)` becomes `(X)Y`: the look-ahead's text is consumed and the match is cut back to the
//!   end of group 1. Leftmost-first priority (what a backtracking engine gives) makes group 1
//!   end where the backtracking engine's match would: at the first choice of `X`, in priority
//!   order, that `Y` can follow.
//! * `X(?!C)` for a one-character class `C` becomes `(X)(?:[^C]|\z)`, the same way.
//!
//! Only the alternative that matched is searched again with captures, anchored at the match
//! start, so alternatives without look-ahead cost a plain search. Any other non-regular construct
//! (look-behind, a look-ahead elsewhere, backreferences, atomic groups and possessive repeats,
//! word boundaries) keeps the backtracking engine, and a failure on a long input says which
//! construct forced it.

use fancy_regex::{Assertion, Expr, LookAround};
use regex_automata::meta;
use regex_automata::{Anchored, Input};
use regex_syntax::hir::{Class, ClassUnicode, ClassUnicodeRange, Hir, HirKind};

use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub struct SplitRegex {
    engine: Engine,
}

#[derive(Debug, Clone)]
enum Engine {
    /// One pattern per top-level alternative, in priority order (a multi-pattern leftmost-first
    /// search is the alternation); `peek[i]` re-runs alternative `i` with captures to cut its
    /// match back to group 1.
    Linear {
        regex: meta::Regex,
        peek: Vec<Option<meta::Regex>>,
    },
    Backtracking {
        regex: fancy_regex::Regex,
        /// The construct that keeps the pattern off the linear engine (for error messages).
        reason: &'static str,
    },
}

/// One top-level alternative in the regex crate's syntax; `peek` when its look-ahead is consumed.
struct Alternative {
    pattern: String,
    peek: bool,
}

impl SplitRegex {
    pub fn new(pattern: &str) -> Result<Self> {
        let invalid = |e: &dyn std::fmt::Display| Error::InvalidPattern(format!("{pattern:?}: {e}"));
        // fancy-regex accepts the dialect (and says what is wrong with a bad pattern).
        let backtracking = fancy_regex::Regex::new(pattern).map_err(|e| invalid(&e))?;
        let tree = Expr::parse_tree(pattern).map_err(|e| invalid(&e))?;
        let alternatives = match &tree.expr {
            Expr::Alt(children) => children.iter().map(alternative).collect(),
            single => vec![alternative(single)],
        };
        let alternatives = match alternatives
            .into_iter()
            .collect::<std::result::Result<Vec<_>, _>>()
        {
            Ok(alternatives) => alternatives,
            Err(reason) => {
                return Ok(SplitRegex {
                    engine: Engine::Backtracking {
                        regex: backtracking,
                        reason,
                    },
                })
            }
        };
        let patterns: Vec<&str> = alternatives.iter().map(|a| a.pattern.as_str()).collect();
        let regex = meta::Regex::new_many(&patterns).map_err(|e| invalid(&e))?;
        let peek = alternatives
            .iter()
            .map(|a| {
                a.peek
                    .then(|| meta::Regex::new(&a.pattern).map_err(|e| invalid(&e)))
                    .transpose()
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(SplitRegex {
            engine: Engine::Linear { regex, peek },
        })
    }

    /// Whether matching is linear in the text (false: the backtracking engine, and why).
    pub fn backtracking_reason(&self) -> Option<&'static str> {
        match &self.engine {
            Engine::Linear { .. } => None,
            Engine::Backtracking { reason, .. } => Some(reason),
        }
    }

    /// Calls `f(start, end)` for every match in order, with the iteration rules of fancy-regex
    /// (and Oniguruma): after an empty match the search resumes one character later, and an empty
    /// match right after a match is skipped.
    pub fn for_each_match(&self, text: &str, f: &mut dyn FnMut(usize, usize)) -> Result<()> {
        match &self.engine {
            Engine::Backtracking { regex, reason } => {
                for m in regex.find_iter(text) {
                    let m = m.map_err(|e| {
                        Error::PatternFailure(format!(
                            "{e} on a text of {} bytes: the pattern needs the backtracking regex \
                             engine because it uses {reason}; rewrite that construct to get \
                             linear-time matching",
                            text.len()
                        ))
                    })?;
                    f(m.start(), m.end());
                }
                Ok(())
            }
            Engine::Linear { regex, peek } => {
                // One capture buffer per alternative that peeks, reused across matches.
                let mut captures: Vec<_> = peek
                    .iter()
                    .map(|alt| alt.as_ref().map(|a| a.create_captures()))
                    .collect();
                let mut next = 0;
                let mut last_match = None;
                while next <= text.len() {
                    let Some(m) = regex.search(&Input::new(text).range(next..)) else {
                        break;
                    };
                    let start = m.start();
                    let mut end = m.end();
                    let index = m.pattern().as_usize();
                    if let (Some(alt), Some(caps)) = (&peek[index], &mut captures[index]) {
                        alt.search_captures(&Input::new(text).range(start..).anchored(Anchored::Yes), caps);
                        end = caps.get_group(1).map_or(end, |g| g.end);
                    }
                    if start == end {
                        next = end + text[end..].chars().next().map_or(1, char::len_utf8);
                        if last_match == Some(end) {
                            continue;
                        }
                    } else {
                        next = end;
                    }
                    last_match = Some(end);
                    f(start, end);
                }
                Ok(())
            }
        }
    }
}

/// The regex-crate form of one top-level alternative, or the construct that prevents one.
fn alternative(expr: &Expr) -> std::result::Result<Alternative, &'static str> {
    if let Expr::Concat(children) = expr {
        if let Some((Expr::LookAround(inner, kind), head)) = children.split_last() {
            let mut pattern = String::from("(");
            for child in head {
                regular(child, &mut pattern)?;
            }
            pattern.push(')');
            match kind {
                LookAround::LookAhead => regular(inner, &mut pattern)?,
                LookAround::LookAheadNeg => {
                    let class =
                        negated_char(inner).ok_or("a negative look-ahead of more than one character")?;
                    pattern.push_str(&format!("(?:{class}|\\z)"));
                }
                LookAround::LookBehind | LookAround::LookBehindNeg => return Err("a look-behind"),
            }
            return Ok(Alternative { pattern, peek: true });
        }
    }
    if let Expr::LookAround(inner, LookAround::LookAhead) = expr {
        let mut pattern = String::from("()");
        regular(inner, &mut pattern)?;
        return Ok(Alternative { pattern, peek: true });
    }
    let mut pattern = String::new();
    regular(expr, &mut pattern)?;
    Ok(Alternative { pattern, peek: false })
}

/// Appends the regex-crate spelling of a regular expression (capture groups become non-capturing,
/// so that group 1 is always the one added for a look-ahead).
fn regular(expr: &Expr, out: &mut String) -> std::result::Result<(), &'static str> {
    let plain = strip_groups(expr)?;
    plain.to_str(out, 1);
    Ok(())
}

fn strip_groups(expr: &Expr) -> std::result::Result<Expr, &'static str> {
    Ok(match expr {
        Expr::Empty | Expr::Any { .. } | Expr::Literal { .. } | Expr::Delegate { .. } => expr.clone(),
        Expr::Assertion(a) => match a {
            Assertion::StartText
            | Assertion::EndText
            | Assertion::StartLine { .. }
            | Assertion::EndLine { .. } => expr.clone(),
            _ => return Err("a word boundary"),
        },
        Expr::Group(child) => Expr::Concat(vec![strip_groups(child)?]),
        Expr::Concat(children) => Expr::Concat(
            children
                .iter()
                .map(strip_groups)
                .collect::<std::result::Result<_, _>>()?,
        ),
        Expr::Alt(children) => Expr::Alt(
            children
                .iter()
                .map(strip_groups)
                .collect::<std::result::Result<_, _>>()?,
        ),
        Expr::Repeat {
            child,
            lo,
            hi,
            greedy,
        } => Expr::Repeat {
            child: Box::new(strip_groups(child)?),
            lo: *lo,
            hi: *hi,
            greedy: *greedy,
        },
        Expr::LookAround(_, LookAround::LookBehind | LookAround::LookBehindNeg) => {
            return Err("a look-behind")
        }
        Expr::LookAround(..) => return Err("a look-ahead that is not at the end of a top-level alternative"),
        Expr::AtomicGroup(_) => return Err("an atomic group or a possessive repeat"),
        Expr::Backref { .. }
        | Expr::BackrefWithRelativeRecursionLevel { .. }
        | Expr::BackrefExistsCondition(_) => return Err("a backreference"),
        _ => return Err("a construct beyond regular expressions (\\K, \\G, a conditional or a subroutine)"),
    })
}

/// `[^C]` for an expression `C` matching exactly one character, in the regex crate's syntax.
fn negated_char(expr: &Expr) -> Option<String> {
    if !matches!(
        expr,
        Expr::Delegate { .. } | Expr::Literal { .. } | Expr::Any { .. }
    ) {
        return None;
    }
    let mut text = String::new();
    strip_groups(expr).ok()?.to_str(&mut text, 1);
    let hir = regex_syntax::Parser::new().parse(&text).ok()?;
    let mut class = match hir.kind() {
        HirKind::Class(Class::Unicode(class)) => class.clone(),
        HirKind::Literal(literal) => {
            let mut chars = std::str::from_utf8(&literal.0).ok()?.chars();
            let c = chars.next()?;
            if chars.next().is_some() {
                return None;
            }
            ClassUnicode::new([ClassUnicodeRange::new(c, c)])
        }
        _ => return None,
    };
    class.negate();
    Some(Hir::class(Class::Unicode(class)).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(regex: &SplitRegex, text: &str) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        regex.for_each_match(text, &mut |s, e| out.push((s, e))).unwrap();
        out
    }

    fn backtracking(pattern: &str, text: &str) -> Vec<(usize, usize)> {
        let re = fancy_regex::Regex::new(pattern).unwrap();
        re.find_iter(text)
            .map(|m| m.unwrap())
            .map(|m| (m.start(), m.end()))
            .collect()
    }

    const DEEPSEEK: &str = r"[!\x22#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    #[test]
    fn look_ahead_patterns_are_linear_and_match_the_backtracking_engine() {
        let patterns = [
            DEEPSEEK,
            r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+",
            r"a+(?=b)|a|b",
            r"(a|ab)(?=c)|\w",
            r"x*|b",
            r"(?i:'s|'t)|[a-z]+(?!\d)|\d",
            r"(?=a)|a",
        ];
        let texts = [
            "",
            "a",
            "ab",
            "aab c",
            "abc",
            "hello  world \n\n  x",
            "  \u{a0}\u{a0} 12 'S's",
            "bxb",
            "aaab",
            "a1b2",
            "\u{0}\u{0}\u{1} é\t\t\r\n",
            "The  quick\n brown fox's 42 .;: x  ",
        ];
        for pattern in patterns {
            let linear = SplitRegex::new(pattern).unwrap();
            assert_eq!(linear.backtracking_reason(), None, "{pattern}");
            for text in texts {
                assert_eq!(
                    pieces(&linear, text),
                    backtracking(pattern, text),
                    "{pattern:?} on {text:?}"
                );
            }
        }
    }

    /// Inputs the backtracking engine fails on (it did with DeepSeek-V4's pattern) are matched.
    #[test]
    fn long_runs_do_not_fail() {
        let linear = SplitRegex::new(DEEPSEEK).unwrap();
        for text in [
            "\u{0}".repeat(300_000),
            " ".repeat(1_000_000),
            "\u{a0}".repeat(1_000_000),
        ] {
            assert!(backtracking_fails(&text), "{}", text.len());
            // NULs match no alternative (one gap); a run of spaces is one piece.
            let expected = if text.starts_with('\0') {
                vec![]
            } else {
                vec![(0, text.len())]
            };
            assert_eq!(pieces(&linear, &text), expected);
        }
        let spaces = " ".repeat(1_000_000) + "x";
        // `\s+(?!\S)` leaves the last space for the word.
        assert_eq!(pieces(&linear, &spaces)[0], (0, 999_999));
    }

    fn backtracking_fails(text: &str) -> bool {
        let re = fancy_regex::Regex::new(DEEPSEEK).unwrap();
        re.find_iter(text).any(|m| m.is_err())
    }

    #[test]
    fn other_constructs_keep_backtracking_and_say_why() {
        for (pattern, why) in [
            (r"(?<=a)b", "a look-behind"),
            (r"a(?!bc)", "a negative look-ahead of more than one character"),
            (r"(a)\1", "a backreference"),
            (r"\d++", "an atomic group or a possessive repeat"),
            (r"\bx", "a word boundary"),
            (
                r"a(?=b)c",
                "a look-ahead that is not at the end of a top-level alternative",
            ),
        ] {
            let regex = SplitRegex::new(pattern).unwrap();
            assert_eq!(regex.backtracking_reason(), Some(why), "{pattern}");
        }
    }
}
