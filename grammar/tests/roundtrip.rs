//! `parse(format(policy)) == policy` on generated policies.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use proptest::prelude::*;
use vtpolicy_grammar::{
    ArgPattern, Default, DefaultScope, Effect, Item, Kind, Limit, PolicyFile, PortRange, Rule, Running, SourceFile,
    Span, Spanned, Target, TestBlock, TestCase, TestRequest, data, format, parse,
};

fn spanned<T>(node: T) -> Spanned<T> {
    Spanned::new(node, Span::default())
}

fn text() -> impl Strategy<Value = String> {
    // Quotes, backslashes, tabs, newlines, `#`, `..`, non-ASCII: everything a
    // string literal must carry through.
    prop::string::string_regex("[a-z0-9 ._/*?#\"\\\\\t\n|,é${}=+-]{0,12}").expect("regex")
}

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(&["git", "push", "--force", "-rf", "/", "..", "*", "id", "because", "+*", "of=/dev/*", "[x]"][..]).prop_map(str::to_owned),
        1 => text(),
    ]
}

fn effect() -> impl Strategy<Value = Effect> {
    prop_oneof![Just(Effect::Allow), Just(Effect::Prompt), Just(Effect::Deny)]
}

fn arg() -> impl Strategy<Value = ArgPattern> {
    prop_oneof![
        4 => token().prop_map(ArgPattern::Token),
        1 => prop::collection::vec(token(), 1..4).prop_map(ArgPattern::Alternatives),
        1 => Just(ArgPattern::Any),
        1 => Just(ArgPattern::Rest),
    ]
}

fn rule() -> impl Strategy<Value = Item> {
    let exec = prop::collection::vec(arg(), 1..6)
        .prop_map(|args| (vec![spanned(Kind::Exec)], Target::Argv(args.into_iter().map(spanned).collect())));
    let paths = (prop::sample::subsequence(vec![Kind::Read, Kind::Write], 1..=2), prop::collection::vec(text(), 1..25))
        .prop_map(|(kinds, paths)| {
            (kinds.into_iter().map(spanned).collect(), Target::Strings(paths.into_iter().map(spanned).collect()))
        });
    let net = (prop::collection::vec(text(), 1..4), prop::collection::vec((0u16..100, 0u16..100), 0..3)).prop_map(
        |(hosts, ports)| {
            (
                vec![spanned(Kind::Net)],
                Target::Hosts {
                    hosts: hosts.into_iter().map(spanned).collect(),
                    ports: ports
                        .into_iter()
                        .map(|(a, b)| spanned(PortRange { low: a.min(b), high: a.max(b) }))
                        .collect(),
                },
            )
        },
    );
    let tool = text().prop_map(|t| (vec![spanned(Kind::Tool)], Target::Strings(vec![spanned(t)])));
    (
        effect(),
        prop_oneof![3 => exec, 2 => paths, 1 => net, 1 => tool],
        prop::option::of(text()),
        prop::option::of(text()),
        any::<bool>(),
        prop::option::of(prop::collection::vec(arg(), 1..4)),
    )
        .prop_map(|(effect, (kinds, target), id, because, sandboxed, running)| {
            Item::Rule(Rule {
                effect: spanned(effect),
                kinds,
                target,
                id: id.map(spanned),
                because: because.map(spanned),
                sandboxed_only: sandboxed.then(Span::default),
                running: running
                    .map(|args| Running { argv: args.into_iter().map(spanned).collect(), span: Span::default() }),
                span: Span::default(),
            })
        })
}

fn test_block() -> impl Strategy<Value = Item> {
    let request = prop_oneof![
        prop::collection::vec(token(), 1..5).prop_map(TestRequest::Exec),
        text().prop_map(TestRequest::Shell),
        text().prop_map(|p| TestRequest::Path(Kind::Read, p)),
        text().prop_map(|p| TestRequest::Path(Kind::Write, p)),
        (text(), any::<u16>()).prop_map(|(h, p)| TestRequest::Net(h, p)),
        text().prop_map(TestRequest::Tool),
    ];
    (prop::option::of(text()), prop::collection::vec((request, effect()), 0..4)).prop_map(|(name, cases)| {
        Item::Test(TestBlock {
            name: name.map(spanned),
            cases: cases
                .into_iter()
                .map(|(request, expect)| TestCase { request, expect: spanned(expect), span: Span::default() })
                .collect(),
            span: Span::default(),
        })
    })
}

fn item() -> impl Strategy<Value = Item> {
    let default = (
        prop_oneof![
            Just(DefaultScope::All),
            Just(DefaultScope::Unanalysable),
            prop::sample::select(&Kind::ALL[..]).prop_map(DefaultScope::Kind)
        ],
        effect(),
    )
        .prop_map(|(scope, effect)| Item::Default(Default { scope, effect, span: Span::default() }));
    prop_oneof![
        1 => (0u32..5).prop_map(|v| Item::Version(spanned(v))),
        1 => text().prop_map(|t| Item::Policy(spanned(t))),
        1 => text().prop_map(|t| Item::Extend(spanned(t))),
        1 => default,
        1 => prop::collection::vec(text(), 1..4).prop_map(|l| Item::TrustedBin(l.into_iter().map(spanned).collect(), Span::default())),
        1 => prop::collection::vec(text(), 0..4).prop_map(|l| Item::Env(l.into_iter().map(spanned).collect(), Span::default())),
        1 => prop::collection::vec(("[a-z][a-z_]{0,7}", "[0-9]{1,4}[a-zA-Z]{0,3}"), 0..4).prop_map(|l| Item::Limits(
            l.into_iter().map(|(name, value)| Limit { name: spanned(name), value: spanned(value) }).collect(),
            Span::default(),
        )),
        6 => rule(),
        2 => test_block(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn format_then_parse_gives_back_the_policy(items in prop::collection::vec(item(), 0..12)) {
        let file = PolicyFile { source: SourceFile::new("generated.vtp", ""), items, comments: Vec::new() };
        let text = format(&file);
        let (mut parsed, diagnostics) = parse(&SourceFile::new("generated.vtp", text.clone()));
        let errors: Vec<String> = diagnostics.iter().map(|d| d.render()).collect();
        prop_assert!(errors.is_empty(), "{}\n{}", text, errors.join("\n"));
        parsed.erase_spans();
        prop_assert_eq!(&parsed.items, &file.items, "{}", text);
        prop_assert_eq!(format(&parsed), text);
    }

    /// `.vtp → json → .vtp` is the identity: policy as data loses nothing
    /// but comments and positions.
    #[test]
    fn policy_data_round_trips(items in prop::collection::vec(item(), 0..12)) {
        let file = PolicyFile { source: SourceFile::new("generated.vtp", ""), items, comments: Vec::new() };
        let text = format(&file);
        let (mut parsed, diagnostics) = parse(&SourceFile::new("generated.vtp", text.clone()));
        prop_assert!(diagnostics.is_empty());
        parsed.erase_spans();
        let json = serde_json::to_string(&data::to_data(&parsed)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back: data::PolicyData = serde_json::from_str(&json).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let rebuilt = data::from_data(&back, SourceFile::new("generated.json", "")).map_err(TestCaseError::fail)?;
        prop_assert_eq!(&rebuilt.items, &parsed.items, "{}", json);
        prop_assert_eq!(format(&rebuilt), text);
    }
}
