//! Shell text and request JSON: normalising and judging never panic, and
//! nothing is ever allowed that the policy does not allow.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use vtpolicy_runtime::{Environment, Judge, Layering, RawRequest, load_policy, parse_request};

fn judge() -> &'static Judge {
    static JUDGE: OnceLock<Judge> = OnceLock::new();
    JUDGE.get_or_init(|| {
        let environment = Environment::hermetic(std::path::Path::new("/w"), "/h", &["git", "cargo", "tail", "ls", "cat", "grep", "make", "rm", "sh", "bash"]);
        let (policy, _) = load_policy("workspace-write", &environment.context(), Layering::Enforce);
        Judge::new(vec![policy.expect("stock policy compiles")], environment).expect("graph builds")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let judge = judge();
    let shell = RawRequest::Exec { argv: None, command: Some(text.to_owned()), cwd: None, workspace: None };
    let judgement = judge.judge(&shell);
    // A call with an unanalysable part is never allowed.
    if judgement.decision.parts.iter().any(|p| p.unanalysable.is_some()) {
        assert_ne!(judgement.effect(), vtpolicy_engine::Effect::Allow, "{text:?}");
    }
    let argv = RawRequest::Exec {
        argv: Some(text.split(' ').map(str::to_owned).collect()),
        command: None,
        cwd: None,
        workspace: None,
    };
    let _ = judge.judge(&argv);
    if let Ok(request) = parse_request(text) {
        let _ = judge.judge(&request);
    }
});
