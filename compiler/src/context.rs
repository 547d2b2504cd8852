//! The values of `${workspace}`, `${home}`, `${tmp}` and `${cwd}`.

/// Where a policy is compiled for. Paths are absolute and, when they exist,
/// canonical (the runtime resolves symlinks before compiling), so that
/// patterns and normalised requests speak of the same paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    pub workspace: String,
    pub home: String,
    /// The private per-call temporary directory (`TMPDIR` of the child).
    pub tmp: String,
    pub cwd: String,
}

/// The variables a pattern may use.
pub const VARIABLES: &[&str] = &["workspace", "home", "tmp", "cwd"];

impl Context {
    pub fn variable(&self, name: &str) -> Option<&str> {
        match name {
            "workspace" => Some(&self.workspace),
            "home" => Some(&self.home),
            "tmp" => Some(&self.tmp),
            "cwd" => Some(&self.cwd),
            _ => None,
        }
    }

    /// Expands `${var}` everywhere and, when `tilde` is set, a leading `~`.
    /// On an unknown or unterminated variable, returns its byte range in
    /// `text`.
    pub fn expand(&self, text: &str, tilde: bool) -> Result<String, std::ops::Range<usize>> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        let mut consumed = 0;
        if tilde && (rest == "~" || rest.starts_with("~/")) {
            out.push_str(self.home.trim_end_matches('/'));
            rest = rest.get(1..).unwrap_or_default();
            consumed = 1;
            if out.is_empty() && rest.is_empty() {
                out.push('/');
            }
        }
        while let Some(start) = rest.find("${") {
            out.push_str(rest.get(..start).unwrap_or_default());
            let after = rest.get(start + 2..).unwrap_or_default();
            let Some(end) = after.find('}') else {
                return Err(consumed + start..consumed + rest.len());
            };
            let name = after.get(..end).unwrap_or_default();
            match self.variable(name) {
                Some(value) => out.push_str(value.trim_end_matches('/')),
                None => return Err(consumed + start..consumed + start + 3 + end),
            }
            let used = start + 2 + end + 1;
            rest = rest.get(used..).unwrap_or_default();
            consumed += used;
        }
        out.push_str(rest);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context() -> Context {
        Context { workspace: "/w".into(), home: "/h/".into(), tmp: "/t".into(), cwd: "/c".into() }
    }

    #[test]
    fn expands_variables_and_tilde() {
        let ctx = context();
        assert_eq!(ctx.expand("${workspace}/**", true).as_deref(), Ok("/w/**"));
        assert_eq!(ctx.expand("~/.ssh/**", true).as_deref(), Ok("/h/.ssh/**"));
        assert_eq!(ctx.expand("~", false).as_deref(), Ok("~"));
        assert_eq!(ctx.expand("a${tmp}b${cwd}", true).as_deref(), Ok("a/tb/c"));
        assert_eq!(ctx.expand("x/${wrkspace}/y", true), Err(2..13));
        assert_eq!(ctx.expand("${home", true), Err(0..6));
    }
}
