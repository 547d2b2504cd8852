//! Program models: what a program does with its arguments, read from
//! `policies/programs.toml` (see the comments there for the format).
//!
//! A modelled command becomes, beside its exec part, one part per effect:
//! a read or write of each path it names, nested shell text it runs, or an
//! unanalysable part for code it runs that cannot be seen. A command with
//! no model gets a prompt wherever an argument names a path the policies
//! deny.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};

use serde::Deserialize;
use vtpolicy_engine::{Arg, LongForm};

use super::Word;

/// The stock catalogue, `policies/programs.toml`, as one JSON text per
/// program (`build.rs`): each name, its aliases and its model.
const STOCK_MODELS: &[(&str, &[&str], &str)] = include!(concat!(env!("OUT_DIR"), "/programs.rs"));

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Operands {
    Read,
    Write,
    Delete,
    Copy,
    Move,
    Link,
    /// Directories (or files) it lists: read, not recursively.
    List,
    /// find's starting points: the operands before the first expression
    /// word, `.` when there are none.
    Roots,
    /// URLs it connects to.
    Urls,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Script {
    Sed,
    Awk,
    Python,
    Node,
    Perl,
    Ruby,
}

impl Script {
    /// An interpreter's code comes only from its code options (`-c`,
    /// `-e`); its first operand is a script file, not code.
    fn is_interpreter(self) -> bool {
        !matches!(self, Script::Sed | Script::Awk)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Model {
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    value_options: Vec<String>,
    #[serde(default)]
    read_options: Vec<String>,
    #[serde(default)]
    write_options: Vec<String>,
    #[serde(default)]
    dir_options: Vec<String>,
    #[serde(default)]
    at_read_options: Vec<String>,
    #[serde(default)]
    code_options: Vec<String>,
    /// Options whose value is shell text the program runs
    /// (`git rebase -x`): judged as the commands it holds.
    #[serde(default)]
    shell_options: Vec<String>,
    #[serde(default)]
    unanalysable_options: Vec<String>,
    /// Required for a program, the program's for a subcommand that
    /// leaves it out.
    operands: Option<Operands>,
    #[serde(default)]
    skip_operands: usize,
    #[serde(default)]
    skip_unless: Vec<String>,
    #[serde(default)]
    in_place_options: Vec<String>,
    #[serde(default)]
    recursive_options: Vec<String>,
    /// Operands starting with one of these are commands for the program
    /// (`vim +'!id'`, `less +…`).
    #[serde(default)]
    code_prefixes: Vec<String>,
    /// The program reads commands from standard input (`ed`), where `!`
    /// runs programs.
    #[serde(default)]
    stdin_commands: bool,
    script: Option<Script>,
    /// Short options and the long options they are (`r = "--recursive"`).
    #[serde(default)]
    long_forms: BTreeMap<String, String>,
    /// Long options may be abbreviated to a unique prefix, as getopt_long
    /// and git's option parser allow.
    #[serde(default)]
    abbreviations: bool,
    /// Options the command behaves as if given unless one of some others
    /// is (`git restore` restores the worktree unless told `--staged`).
    #[serde(default)]
    implied: Vec<Implied>,
    /// Subcommands, each a model of the words after it. The program's
    /// option lists still apply there; a subcommand's `operands`,
    /// `script` and the like replace the program's. A program with
    /// subcommands takes its first operand as one, modelled or not.
    #[serde(default)]
    subcommand: BTreeMap<String, Model>,
    /// `long_forms` with the enclosing models' under them, as requests
    /// carry them (see [`Model::prepare`]).
    #[serde(skip)]
    forms: Arc<[LongForm]>,
    /// Every option this model and the enclosing ones name, with the
    /// roles the lists give it (see [`Model::prepare`]).
    #[serde(skip)]
    roles: Arc<HashMap<String, u16, foldhash::fast::RandomState>>,
}

/// The roles of an option, one bit per list that names it.
mod role {
    pub(super) const VALUE: u16 = 1;
    pub(super) const READ: u16 = 1 << 1;
    pub(super) const WRITE: u16 = 1 << 2;
    pub(super) const DIR: u16 = 1 << 3;
    pub(super) const AT_READ: u16 = 1 << 4;
    pub(super) const CODE: u16 = 1 << 5;
    pub(super) const SHELL: u16 = 1 << 6;
    pub(super) const UNANALYSABLE: u16 = 1 << 7;
    pub(super) const IN_PLACE: u16 = 1 << 8;
    pub(super) const RECURSIVE: u16 = 1 << 9;
    pub(super) const SKIP_UNLESS: u16 = 1 << 10;
    /// The long form of a short option.
    pub(super) const LONG_FORM: u16 = 1 << 11;
    /// The option takes a value.
    pub(super) const TAKES_VALUE: u16 = VALUE | READ | WRITE | DIR | AT_READ | CODE | SHELL;
    /// The option's value is a path.
    pub(super) const PATH: u16 = READ | WRITE | DIR | AT_READ;
}

impl Model {
    /// Each option list: its field's name, the list, the role it gives.
    fn lists(&self) -> [(&'static str, &Vec<String>, u16); 11] {
        [
            ("value_options", &self.value_options, role::VALUE),
            ("read_options", &self.read_options, role::READ),
            ("write_options", &self.write_options, role::WRITE),
            ("dir_options", &self.dir_options, role::DIR),
            ("at_read_options", &self.at_read_options, role::AT_READ),
            ("code_options", &self.code_options, role::CODE),
            ("shell_options", &self.shell_options, role::SHELL),
            ("unanalysable_options", &self.unanalysable_options, role::UNANALYSABLE),
            ("in_place_options", &self.in_place_options, role::IN_PLACE),
            ("recursive_options", &self.recursive_options, role::RECURSIVE),
            ("skip_unless", &self.skip_unless, role::SKIP_UNLESS),
        ]
    }

    /// Fills in what judging a command reads in one lookup: the long
    /// forms requests carry and the roles of every option, the enclosing
    /// models' with this model's own over (or, for roles, beside) them.
    fn prepare(&mut self, inherited: &[LongForm], inherited_roles: &HashMap<String, u16, foldhash::fast::RandomState>) {
        let mut forms = inherited.to_vec();
        for (short, long) in &self.long_forms {
            let (Some(short), Some(long)) = (short.chars().next(), long.strip_prefix("--")) else { continue };
            forms.retain(|f| f.short != short);
            forms.push(LongForm { short, long: long.to_owned() });
        }
        let mut roles = inherited_roles.clone();
        for (_, list, bit) in self.lists() {
            for option in list {
                *roles.entry(option.clone()).or_default() |= bit;
            }
        }
        for long in self.long_forms.values() {
            *roles.entry(long.clone()).or_default() |= role::LONG_FORM;
        }
        for sub in self.subcommand.values_mut() {
            sub.prepare(&forms, &roles);
        }
        self.forms = forms.into();
        self.roles = Arc::new(roles);
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Implied {
    option: String,
    #[serde(default)]
    unless: Vec<String>,
}

/// Subcommands nest at most this deep (`git worktree remove`).
const MAX_SUBCOMMAND_DEPTH: usize = 3;

/// A program's model and the models of the subcommands its command
/// names, outermost first: the grammar its later words are read with.
struct Grammar<'m> {
    levels: [&'m Model; MAX_SUBCOMMAND_DEPTH + 1],
    depth: usize,
}

impl<'m> Grammar<'m> {
    fn new(model: &'m Model) -> Grammar<'m> {
        Grammar { levels: [model; MAX_SUBCOMMAND_DEPTH + 1], depth: 1 }
    }

    fn models(&self) -> &[&'m Model] {
        self.levels.get(..self.depth).unwrap_or_default()
    }

    fn innermost(&self) -> &'m Model {
        self.models().last().copied().unwrap_or(self.levels[0])
    }

    /// The subcommand `word` names, entered; `false` when it names none.
    fn enter(&mut self, word: &str) -> bool {
        let Some(sub) = self.innermost().subcommand.get(word) else { return false };
        let Some(slot) = self.levels.get_mut(self.depth) else { return false };
        *slot = sub;
        self.depth += 1;
        true
    }

    /// Whether the innermost model takes subcommands.
    fn expects_subcommand(&self) -> bool {
        !self.innermost().subcommand.is_empty() && self.depth <= MAX_SUBCOMMAND_DEPTH
    }

    /// The roles the chain's lists give `option`.
    fn roles(&self, option: &str) -> u16 {
        self.innermost().roles.get(option).copied().unwrap_or(0)
    }

    fn has(&self, role: u16, option: &str) -> bool {
        self.roles(option) & role != 0
    }

    fn takes_value(&self, option: &str) -> bool {
        self.has(role::TAKES_VALUE, option)
    }

    /// Whether any model of the chain names `option` at all.
    fn knows(&self, option: &str) -> bool {
        self.roles(option) != 0
    }

    /// The innermost model's value of a field the subcommand may give.
    fn scalar<T: Copy>(&self, field: fn(&Model) -> Option<T>) -> Option<T> {
        self.models().iter().rev().find_map(|m| field(m))
    }

    /// The long option a word abbreviates: where the program allows
    /// abbreviations, an unambiguous prefix of one the model knows.
    fn abbreviation_of(&self, option: &str) -> Option<&'m str> {
        if !option.starts_with("--") || option.len() < 4 || self.knows(option) {
            return None;
        }
        if !self.models().iter().any(|m| m.abbreviations) {
            return None;
        }
        let mut found: Option<&'m str> = None;
        for candidate in self.innermost().roles.keys() {
            if candidate.starts_with(option) {
                if found.is_some() {
                    return None;
                }
                found = Some(candidate);
            }
        }
        found
    }

    /// The short options' long forms, a subcommand's over the program's.
    fn long_forms(&self) -> Arc<[LongForm]> {
        Arc::clone(&self.innermost().forms)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Catalogue {
    program: HashMap<String, Model>,
}

/// One program's model, prepared on first use: a process judges a few of
/// the catalogue's hundred programs, so the stock models are read from
/// their JSON only when a command names them.
#[derive(Debug)]
struct LazyModel {
    /// The stock model's JSON; `None` for a model read from a policy's
    /// catalogue, which is prepared when read.
    json: Option<&'static str>,
    model: OnceLock<Option<Model>>,
}

impl LazyModel {
    fn ready(mut model: Model) -> LazyModel {
        model.prepare(&[], &HashMap::default());
        LazyModel { json: None, model: OnceLock::from(Some(model)) }
    }

    fn get(&self) -> Option<&Model> {
        self.model
            .get_or_init(|| {
                // The JSON is the TOML the build read; the test
                // `every_stock_model_reads_from_its_json` shows each one
                // deserialises.
                let mut model: Model = serde_json::from_str(self.json?).ok()?;
                model.prepare(&[], &HashMap::default());
                Some(model)
            })
            .as_ref()
    }
}

/// Models by every name they go by: looked up once per command judged.
#[derive(Debug, Clone, Default)]
pub(crate) struct Models {
    by_name: HashMap<String, Arc<LazyModel>, foldhash::fast::RandomState>,
}

impl Models {
    /// The model of a program name or alias.
    pub(crate) fn get(&self, name: &str) -> Option<&Model> {
        self.by_name.get(name).and_then(|model| model.get())
    }

    pub(crate) fn contains(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    fn names(&self) -> impl Iterator<Item = &String> {
        self.by_name.keys()
    }
}

/// The stock models by every name they go by.
pub(crate) fn stock() -> &'static Models {
    static MODELS: OnceLock<Models> = OnceLock::new();
    MODELS.get_or_init(|| {
        let mut models = Models::default();
        for (name, aliases, json) in STOCK_MODELS {
            let model = Arc::new(LazyModel { json: Some(json), model: OnceLock::new() });
            for alias in *aliases {
                models.by_name.insert((*alias).to_owned(), Arc::clone(&model));
            }
            models.by_name.insert((*name).to_owned(), model);
        }
        models
    })
}

/// The names (and aliases) of a catalogue that the stock catalogue models
/// too, sorted.
pub(crate) fn stock_names_in(text: &str) -> Vec<String> {
    let mut names: Vec<String> =
        parse(text).unwrap_or_default().names().filter(|n| stock().contains(n)).cloned().collect();
    names.sort();
    names
}

/// The stock catalogue with the policies' catalogues over it, in order:
/// a later model of a name replaces an earlier one, except that a
/// catalogue which may not replace only adds names no catalogue before
/// it models.
pub(crate) fn merged<'a>(catalogues: impl Iterator<Item = (&'a str, bool)>) -> Models {
    let mut models = stock().clone();
    for (text, may_replace) in catalogues {
        for (name, model) in parse(text).unwrap_or_default().by_name {
            if may_replace || !models.contains(&name) {
                models.by_name.insert(name, model);
            }
        }
    }
    models
}

/// A catalogue's models by name and alias; the error names the line.
pub(crate) fn parse(text: &str) -> Result<Models, String> {
    let catalogue: Catalogue = toml::from_str(text).map_err(|e| e.to_string())?;
    if let Some(name) = catalogue.program.iter().find_map(|(name, model)| model.operands.is_none().then_some(name)) {
        return Err(format!("the model `{name}` gives no `operands`"));
    }
    let mut out = Models::default();
    for (name, model) in catalogue.program {
        let aliases = model.aliases.clone();
        let model = Arc::new(LazyModel::ready(model));
        for alias in aliases {
            out.by_name.insert(alias, Arc::clone(&model));
        }
        out.by_name.insert(name, model);
    }
    Ok(out)
}

/// A problem in a program catalogue, at a span of its text (to the end
/// of the line it starts on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CatalogueError {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) message: String,
}

impl CatalogueError {
    fn at(text: &str, start: usize, message: String) -> CatalogueError {
        let end = text.get(start..).and_then(|rest| rest.find('\n')).map_or(text.len(), |n| start + n);
        CatalogueError { start, end, message }
    }
}

/// Every problem of a catalogue's text: TOML and field errors, options
/// spelled without `-`, script options that take no value, and a program
/// name given to two models.
pub(crate) fn check_catalogue(text: &str) -> Vec<CatalogueError> {
    let mut catalogue: Catalogue = match toml::from_str(text) {
        Ok(catalogue) => catalogue,
        Err(error) => {
            let start = error.span().map_or(0, |span| span.start);
            return vec![CatalogueError::at(text, start, error.message().trim().to_owned())];
        }
    };
    for model in catalogue.program.values_mut() {
        model.prepare(&[], &HashMap::default());
    }
    let table_offset = |name: &str| {
        text.find(&format!("[program.{name}]")).or_else(|| text.find(&format!("[program.\"{name}\"]"))).unwrap_or(0)
    };
    let mut errors = Vec::new();
    let mut owner: HashMap<&str, &str> = HashMap::new();
    let mut names: Vec<&String> = catalogue.program.keys().collect();
    names.sort();
    for name in names {
        let Some(model) = catalogue.program.get(name) else { continue };
        let at = table_offset(name);
        for alias in std::iter::once(name).chain(&model.aliases) {
            if let Some(first) = owner.insert(alias, name)
                && first != name
            {
                errors.push(CatalogueError::at(
                    text,
                    at,
                    format!("`{alias}` is named by the models `{first}` and `{name}`"),
                ));
            }
        }
        if model.operands.is_none() {
            errors.push(CatalogueError::at(text, at, format!("`{name}` gives no `operands`")));
        }
        check_model(text, at, name, model, 0, &mut errors);
    }
    errors
}

/// The problems of one model and its subcommands' (`path` names it:
/// `git push`), reported at its program's table.
fn check_model(text: &str, at: usize, path: &str, model: &Model, depth: usize, errors: &mut Vec<CatalogueError>) {
    let mut messages: Vec<String> = Vec::new();
    let mut error = |message: String| messages.push(message);
    for (field, options, _) in model.lists() {
        for option in options.iter().filter(|o| !o.starts_with('-') || o.len() < 2) {
            error(format!("`{option}` in `{field}` is not an option (options start with `-`)"));
        }
    }
    for option in model.skip_unless.iter().filter(|o| !Grammar::new(model).takes_value(o)) {
        error(format!(
            "`{option}` in `skip_unless` gives a script, so it must take a value (list it in `value_options` or `read_options`)"
        ));
    }
    for (short, long) in &model.long_forms {
        if short.chars().count() != 1 || !short.chars().all(|c| c.is_ascii_alphanumeric()) {
            error(format!("`{short}` in `long_forms` is not a short option's letter"));
        }
        if !long.starts_with("--") || long.len() < 4 {
            error(format!("`{long}` in `long_forms` is not a long option (`--name`)"));
        }
    }
    for implied in &model.implied {
        if !implied.option.starts_with('-') || implied.unless.iter().any(|o| !o.starts_with('-')) {
            error(format!("`implied` names `{}`, which is not an option", implied.option));
        }
    }
    if depth >= MAX_SUBCOMMAND_DEPTH && !model.subcommand.is_empty() {
        error(format!("subcommands nest at most {MAX_SUBCOMMAND_DEPTH} deep"));
    }
    for (name, sub) in &model.subcommand {
        if !sub.aliases.is_empty() {
            error(format!("the subcommand `{name}` has `aliases`; give each name its own table"));
        }
    }
    errors.extend(messages.into_iter().map(|m| CatalogueError::at(text, at, format!("`{path}`: {m}"))));
    for (name, sub) in &model.subcommand {
        check_model(text, at, &format!("{path} {name}"), sub, depth + 1, errors);
    }
}

/// What a command does, by its model.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Effects {
    pub(crate) reads: Vec<String>,
    pub(crate) writes: Vec<String>,
    /// Shell text it runs (`git rebase -x`).
    pub(crate) shell: Vec<String>,
    /// Why part of it cannot be analysed.
    pub(crate) unanalysable: Vec<String>,
    /// Paths it reads or writes that are only known at run time.
    pub(crate) unknown_paths: usize,
    /// A copy, move or link: the last operand and the sources. The
    /// destination is written, or, when it is a directory, an entry named
    /// after each source inside it.
    pub(crate) destination: Option<(String, Vec<String>)>,
    /// Directories it writes entries into, with the entries' names (`*`
    /// for names only known at run time, such as an archive's).
    pub(crate) into: Vec<(String, Vec<String>)>,
    /// Links it makes: (link, target as written).
    pub(crate) links: Vec<(String, String)>,
    /// Hosts and ports it connects to.
    pub(crate) connections: Vec<(String, u16)>,
    /// `git config`: the file it reads or writes, and whether it writes.
    pub(crate) git_config: Option<(GitConfigFile, bool)>,
    /// Directories it deletes with everything in them.
    pub(crate) deleted_trees: Vec<String>,
    /// The short options' long forms under its grammar, for the request.
    pub(crate) long_forms: Arc<[LongForm]>,
    /// Options it behaves as if given, for the request.
    pub(crate) implied: Vec<String>,
}

/// The file a `git config` command acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GitConfigFile {
    /// The repository's own `.git/config`.
    Local,
    /// `~/.gitconfig`.
    Global,
    /// `/etc/gitconfig`.
    System,
    /// `--file PATH`.
    File(String),
}

/// What `git config ARGS` does: which file, and whether it writes it.
/// `None` when an argument is only known at run time.
fn git_config(args: &[Word]) -> Option<(GitConfigFile, bool)> {
    const WRITES: &[&str] =
        &["--unset", "--unset-all", "--add", "--replace-all", "--rename-section", "--remove-section", "-e", "--edit"];
    const READS: &[&str] = &["--get", "--get-all", "--get-regexp", "--get-urlmatch", "-l", "--list", "--get-color"];
    const VALUED: &[&str] = &["--type", "--default", "--comment", "--value", "--blob"];
    let mut file = GitConfigFile::Local;
    let mut writes = false;
    let mut reads = false;
    let mut positionals = Vec::new();
    let mut words = args.iter();
    while let Some(word) = words.next() {
        let text = known(word)?;
        match text {
            "--global" => file = GitConfigFile::Global,
            "--system" => file = GitConfigFile::System,
            "--local" | "--worktree" => file = GitConfigFile::Local,
            "-f" | "--file" => file = GitConfigFile::File(known(words.next()?)?.to_owned()),
            t if t.starts_with("--file=") => file = GitConfigFile::File(t["--file=".len()..].to_owned()),
            t if WRITES.contains(&t) => writes = true,
            t if READS.contains(&t) => reads = true,
            t if VALUED.contains(&t) => {
                words.next();
            }
            t if t.starts_with('-') => {}
            t => positionals.push(t),
        }
    }
    // `git config set|unset|get|list …` (git 2.46) or the classic form,
    // where a name and a value set it.
    let verb_writes =
        matches!(positionals.first(), Some(&("set" | "unset" | "rename-section" | "remove-section" | "edit")));
    let verb_reads = matches!(positionals.first(), Some(&("get" | "list")));
    let writes = writes || verb_writes || (!reads && !verb_reads && positionals.len() >= 2);
    Some((file, writes))
}

/// One token of an approval's argv pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalToken {
    /// The token as written: a subcommand, an option, `--`.
    Literal(String),
    /// An option with its value glued on, the value any (`--name=*`,
    /// `-k*`): the part before the value.
    GluedValue(String),
    /// Any one token: an operand, an option's value.
    Any,
}

/// Leading words kept as written for a program whose model names no
/// subcommands (`gh pr create`, `kubectl apply`, `docker build`).
const UNMODELLED_SUBCOMMANDS: usize = 2;

/// Whether `word` reads as a subcommand's name rather than an operand.
fn subcommand_like(word: &str) -> bool {
    let mut chars = word.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// The argv shape of `args` under `model`: subcommands and options as
/// written, every operand and option value any token. What an approval
/// generalises a prompted command to. Without a model of its subcommands,
/// the program's first words that read as names are taken for
/// subcommands: a narrower rule, never a wider one.
pub(crate) fn approval_shape(model: Option<&Model>, args: &[Arg]) -> Vec<ApprovalToken> {
    let mut grammar = model.map(Grammar::new);
    let mut expecting = grammar.as_ref().is_some_and(Grammar::expects_subcommand);
    let mut unmodelled = if expecting { 0 } else { UNMODELLED_SUBCOMMANDS };
    let takes_value =
        |grammar: &Option<Grammar<'_>>, option: &str| grammar.as_ref().is_some_and(|g| g.takes_value(option));
    let mut out = Vec::with_capacity(args.len());
    let mut options_ended = false;
    let mut value_next = false;
    for arg in args {
        let Arg::Known(text) = arg else {
            out.push(ApprovalToken::Any);
            expecting = false;
            value_next = false;
            continue;
        };
        if std::mem::take(&mut value_next) {
            out.push(ApprovalToken::Any);
            continue;
        }
        if options_ended || text == "-" || !text.starts_with('-') {
            if expecting && !options_ended {
                out.push(ApprovalToken::Literal(text.clone()));
                expecting = grammar.as_mut().is_some_and(|g| g.enter(text) && g.expects_subcommand());
            } else if unmodelled > 0 && !options_ended && subcommand_like(text) {
                unmodelled -= 1;
                out.push(ApprovalToken::Literal(text.clone()));
            } else {
                unmodelled = 0;
                out.push(ApprovalToken::Any);
            }
            continue;
        }
        // Subcommands come before options.
        unmodelled = 0;
        if text == "--" {
            options_ended = true;
            out.push(ApprovalToken::Literal(text.clone()));
            continue;
        }
        if let Some((name, _)) = text.split_once('=').filter(|_| text.starts_with("--")) {
            out.push(ApprovalToken::GluedValue(format!("{name}=")));
            continue;
        }
        let single_long = grammar.as_ref().is_some_and(|g| g.knows(text));
        if text.starts_with("--") || single_long {
            value_next = takes_value(&grammar, text);
            out.push(ApprovalToken::Literal(text.clone()));
            continue;
        }
        // A cluster: the first short option that takes a value takes the
        // rest of the word, or the next one.
        let mut token = ApprovalToken::Literal(text.clone());
        for (at, c) in text.char_indices().skip(1) {
            let mut letter = [0u8; 8];
            if takes_value(&grammar, short_option(c, &mut letter)) {
                let end = at + c.len_utf8();
                match text.get(end..).filter(|rest| !rest.is_empty()) {
                    Some(_) => token = ApprovalToken::GluedValue(text.get(..end).unwrap_or(text).to_owned()),
                    None => value_next = true,
                }
                break;
            }
        }
        out.push(token);
    }
    out
}

/// The effects of `args` (without the program) under `model`. Words only
/// known at run time in a path's place are counted, not judged.
pub(crate) fn effects(program: &str, model: &Model, args: &[Word]) -> Effects {
    let mut out = Effects::default();
    if model.stdin_commands {
        out.unanalysable.push(format!("`{program}` reads its commands from standard input, where `!` runs programs"));
    }
    // `+10`, `+G` and `+/pattern` move the cursor; a command with `!`,
    // `:`, `|`, a call or words (`+'r !id'`, `+'call system(…)'`) runs.
    let runs = |text: &str| {
        model.code_prefixes.iter().any(|prefix| {
            text.strip_prefix(prefix.as_str()).is_some_and(|rest| rest.contains(['!', ':', '|', '(', ' ']))
        })
    };
    if let Some(code) = args.iter().filter_map(known).find(|t| runs(t)) {
        out.unanalysable.push(format!("`{program} {code}` runs a command of the program's own"));
    }
    if model.operands == Some(Operands::Roots) {
        // The expression is find's own language (`-exec` is unwrapped
        // elsewhere, its writing actions are the policies' to name).
        let roots = find_roots(args);
        out.unknown_paths = roots.iter().filter(|w| known(w).is_none()).count();
        out.reads.extend(roots.iter().filter_map(|w| known(w).map(str::to_owned)));
        if roots.is_empty() {
            out.reads.push(".".to_owned());
        }
        return out;
    }
    let mut grammar = Grammar::new(model);
    let mut operands: Vec<&Word> = Vec::with_capacity(args.len());
    let mut given = Given::default();
    // What the options given do, together (`role::RECURSIVE`, ...).
    let mut given_roles: u16 = 0;
    let mut script_values: Vec<&str> = Vec::new();
    let mut index = 0;
    let mut options_ended = false;
    let git = program == "git";
    // The first subcommand named, and where the innermost one's words
    // start.
    let mut subcommand: Option<&str> = None;
    let mut subcommand_end = 0;
    let mut subcommand_expected = grammar.expects_subcommand();
    let mut target_directory: Option<String> = None;
    while let Some(word) = args.get(index) {
        index += 1;
        let Word::Known(text) = word else {
            if subcommand_expected {
                // The subcommand itself is only known at run time.
                out.unanalysable.push(format!("`{program}` runs a subcommand only known at run time"));
                subcommand_expected = false;
            }
            operands.push(word);
            continue;
        };
        if options_ended || text == "-" || !text.starts_with('-') {
            if text == "--" && !options_ended {
                options_ended = true;
                continue;
            }
            if subcommand_expected && !options_ended {
                subcommand = subcommand.or(Some(text));
                subcommand_end = index;
                subcommand_expected = grammar.enter(text) && grammar.expects_subcommand();
                continue;
            }
            operands.push(word);
            continue;
        }
        if text == "--" {
            options_ended = true;
            continue;
        }
        // `--name=value`, `--name value`, `-x value`, `-xvalue`, clusters.
        let mut buffer = [0u8; 8];
        let (written, glued): (&str, Option<&str>) = match text.split_once('=') {
            Some((name, value)) if text.starts_with("--") => (name, Some(value)),
            _ if text.starts_with("--") => (text, None),
            // Single-dash long options (`-out`, `-inkey` of openssl).
            _ if grammar.knows(text) => (text, None),
            _ => {
                // A cluster: the first short option that takes a value
                // takes the rest of the cluster, or the next word.
                let mut found = None;
                for (at, c) in text.char_indices().skip(1) {
                    if !given.shorts.contains(&c) {
                        given.shorts.push(c);
                    }
                    let mut letter = [0u8; 8];
                    let short = short_option(c, &mut letter);
                    given_roles |= grammar.roles(short);
                    // The one that takes a value is checked below, as
                    // any option is.
                    if grammar.has(role::UNANALYSABLE, short) && !grammar.takes_value(short) {
                        out.unanalysable.push(format!("`{program} {short}` runs programs the judge cannot see"));
                    }
                    if grammar.takes_value(short) {
                        let rest = text.get(at + c.len_utf8()..).unwrap_or_default();
                        found = Some((c, (!rest.is_empty()).then_some(rest)));
                        break;
                    }
                }
                match found {
                    Some((c, rest)) => (short_option(c, &mut buffer), rest),
                    None => continue,
                }
            }
        };
        let abbreviation = grammar.abbreviation_of(written);
        let option: &str = abbreviation.unwrap_or(written);
        let abbreviated = abbreviation.is_some();
        given_roles |= grammar.roles(option);
        match (short_letter(option), abbreviation) {
            (Some(c), _) => {
                if !given.shorts.contains(&c) {
                    given.shorts.push(c);
                }
            }
            (None, Some(long)) => given.longs.push(long),
            (None, None) => given.longs.push(if text.starts_with("--") {
                text.split_once('=').map_or(text.as_str(), |(name, _)| name)
            } else {
                text.as_str()
            }),
        }
        if git && option == "-c" && subcommand.is_none() {
            let value = glued.or(args.get(index).and_then(known));
            let key = value.and_then(|v| v.split_once('=').map(|(k, _)| k).or(Some(v))).unwrap_or("");
            if git_key_runs_code(key) {
                out.unanalysable.push(format!("`git -c {key}` configures a program git runs"));
            }
        }
        if grammar.has(role::UNANALYSABLE, option) {
            out.unanalysable.push(format!("`{program} {option}` runs programs the judge cannot see"));
        }
        if !grammar.takes_value(option) {
            continue;
        }
        let value: Option<&Word> = match glued {
            Some(_) => None,
            None => {
                index += 1;
                let next = args.get(index - 1);
                // An abbreviation could also be an option the model does
                // not list that takes no value: the word is judged as an
                // operand too.
                if abbreviated && let Some(next) = next {
                    operands.push(next);
                }
                next
            }
        };
        let value: Option<&str> = match (glued, value) {
            (Some(glued), _) => Some(glued),
            (None, Some(Word::Known(next))) => Some(next),
            (None, _) => None,
        };
        let Some(value) = value else {
            if grammar.has(role::SKIP_UNLESS, option) && grammar.scalar(|m| m.script).is_some() {
                out.unanalysable.push(format!("`{program} {option}` runs code only known at run time"));
            }
            if grammar.has(role::SHELL, option) {
                out.unanalysable.push(format!("`{program} {option}` runs a command only known at run time"));
            }
            if grammar.has(role::PATH, option) {
                out.unknown_paths += 1;
            }
            continue;
        };
        if grammar.has(role::READ, option) {
            out.reads.push(value.to_owned());
        }
        if grammar.has(role::WRITE, option) {
            out.writes.push(value.to_owned());
        }
        if grammar.has(role::DIR, option) {
            target_directory = Some(value.to_owned());
        }
        if grammar.has(role::AT_READ, option)
            && let Some((_, path)) = value.split_once('@')
            && !path.is_empty()
        {
            out.reads.push(path.to_owned());
        }
        if grammar.has(role::CODE, option) {
            out.unanalysable.push(format!("`{program} {option}` runs `{value}`"));
        }
        if grammar.has(role::SHELL, option) {
            out.shell.push(value.to_owned());
        }
        if grammar.has(role::SKIP_UNLESS, option) && !grammar.has(role::READ, option) {
            script_values.push(value);
        }
    }
    out.long_forms = grammar.long_forms();
    for implied in grammar.models().iter().flat_map(|m| &m.implied) {
        if !given.any(&implied.unless) && !given.any(std::slice::from_ref(&implied.option)) {
            out.implied.push(implied.option.clone());
        }
    }
    let skip_given = given_roles & role::SKIP_UNLESS != 0;
    let skip = if skip_given { 0 } else { grammar.innermost().skip_operands.min(operands.len()) };
    if let Some(script) = grammar.scalar(|m| m.script) {
        let texts: Vec<&str> = if skip_given || script.is_interpreter() {
            script_values
        } else {
            operands.first().and_then(|w| known(w)).into_iter().collect()
        };
        for text in texts {
            if let Some(reason) = script_runs_code(script, text) {
                out.unanalysable.push(format!("the {} script `{text}` {reason}", program));
            }
        }
    }
    if git && subcommand == Some("config") {
        match git_config(args.get(subcommand_end..).unwrap_or_default()) {
            Some(found) => out.git_config = Some(found),
            None => out.unknown_paths += 1,
        }
    }
    let kind = grammar.scalar(|m| m.operands).unwrap_or(Operands::None);
    // An empty operand names no file (the call fails on it).
    let paths: Vec<String> =
        operands.iter().skip(skip).filter_map(|w| known(w).filter(|t| !t.is_empty()).map(str::to_owned)).collect();
    if kind != Operands::None {
        out.unknown_paths += operands.iter().skip(skip).filter(|w| known(w).is_none()).count();
    }
    let in_place = given_roles & role::IN_PLACE != 0;
    let entry_name = |path: &String| path.trim_end_matches('/').rsplit('/').next().unwrap_or(path).to_owned();
    if kind == Operands::Urls {
        out.connections.extend(paths.iter().filter_map(|url| url_endpoint(url)));
    }
    let copying = matches!(kind, Operands::Copy | Operands::Move | Operands::Link);
    match (kind, target_directory) {
        // `cp -t DIR A B`: every operand is a source, copied into DIR.
        (_, Some(dir)) if copying => {
            if kind == Operands::Copy {
                out.reads.extend(paths.iter().cloned());
            }
            if kind == Operands::Move {
                out.writes.extend(paths.iter().cloned());
            }
            if kind == Operands::Link {
                let names = paths.iter().map(|p| (format!("{dir}/{}", entry_name(p)), p.clone()));
                out.links.extend(names);
            }
            out.into.push((dir, paths.iter().map(entry_name).collect()));
        }
        // `tar -C DIR`, `unzip -d DIR`: entries only known at run time.
        (_, Some(dir)) => {
            out.into.push((dir, vec!["*".to_owned()]));
            if kind == Operands::Read {
                out.reads.extend(paths);
            }
        }
        (Operands::Read, None) if in_place => out.writes.extend(paths),
        (Operands::Read | Operands::List, None) => out.reads.extend(paths),
        (Operands::Delete, None) if given_roles & role::RECURSIVE != 0 => {
            // A tree only known at run time (a variable, find's `{}`) may
            // be the repository itself: no sandbox keeps that.
            let found_by_find = |p: &String| p.split('/').any(|c| c == "{}");
            if operands.iter().skip(skip).any(|w| known(w).is_none()) || paths.iter().any(found_by_find) {
                out.unanalysable.push(format!("`{program}` deletes a tree only known at run time"));
            }
            out.deleted_trees.extend(paths.iter().cloned());
            out.writes.extend(paths);
        }
        (Operands::Write | Operands::Delete, None) => out.writes.extend(paths),
        (Operands::Copy | Operands::Move, None) => match paths.split_last() {
            Some((last, sources)) if !sources.is_empty() => {
                if kind == Operands::Copy {
                    out.reads.extend(sources.iter().cloned());
                } else {
                    out.writes.extend(sources.iter().cloned());
                }
                out.destination = Some((last.clone(), sources.to_vec()));
            }
            _ => out.reads.extend(paths),
        },
        (Operands::Link, None) => match paths.split_last() {
            Some((last, targets)) if !targets.is_empty() => {
                if let [target] = targets {
                    out.links.push((last.clone(), target.clone()));
                }
                out.destination = Some((last.clone(), targets.to_vec()));
            }
            // `ln -s TARGET`: the link is made here, named after it.
            Some((only, _)) => {
                let name = entry_name(only);
                out.links.push((name.clone(), only.clone()));
                out.writes.push(name);
            }
            None => {}
        },
        (Operands::None | Operands::Roots | Operands::Urls, None) => {}
    }
    out
}

/// The options a command gives: short ones by letter, long ones (and
/// single-dash long ones) by name, as the model spells them.
#[derive(Default)]
struct Given<'a> {
    shorts: Vec<char>,
    longs: Vec<&'a str>,
}

impl<'a> Given<'a> {
    /// Whether any of `options` was given.
    fn any(&self, options: &[String]) -> bool {
        options.iter().any(|option| match short_letter(option) {
            Some(c) => self.shorts.contains(&c),
            None => self.longs.contains(&option.as_str()),
        })
    }
}

/// `-x` → `x`.
fn short_letter(option: &str) -> Option<char> {
    let mut chars = option.strip_prefix('-')?.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if c != '-' => Some(c),
        _ => None,
    }
}

/// `-x` for the letter `x`, written into `buffer`.
fn short_option(c: char, buffer: &mut [u8; 8]) -> &str {
    let [dash, rest @ ..] = buffer;
    *dash = b'-';
    let len = c.encode_utf8(rest).len();
    buffer.get(..=len).and_then(|bytes| std::str::from_utf8(bytes).ok()).unwrap_or("-")
}

/// find's starting points: its words before the first one of the
/// expression (an option, `(`, `!` or `)`).
pub(crate) fn find_roots(args: &[Word]) -> &[Word] {
    let end = args.iter().position(|w| matches!(w, Word::Known(t) if t.starts_with(['-', '(', '!', ')'])));
    args.get(..end.unwrap_or(args.len())).unwrap_or_default()
}

/// The host and port a URL operand connects to; a bare host means
/// `http://`, as curl and wget take it.
pub(crate) fn url_endpoint(url: &str) -> Option<(String, u16)> {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => 80,
        "https" => 443,
        "ftp" => 21,
        "ftps" => 990,
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else {
        match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    if host.is_empty() || host.contains(['*', '?', '[', '{']) {
        return None;
    }
    let port = match port {
        Some(port) => port.parse().ok()?,
        None => default_port,
    };
    Some((host.to_owned(), port))
}

fn known(word: &Word) -> Option<&str> {
    match word {
        Word::Known(text) => Some(text),
        Word::Unknown => None,
    }
}

fn git_key_runs_code(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.starts_with("alias.")
        || key.starts_with("filter.")
        || key.starts_with("credential")
        || [
            "command",
            "program",
            "editor",
            "pager",
            "external",
            "hook",
            "fsmonitor",
            "askpass",
            "textconv",
            "helper",
            "proxy",
        ]
        .iter()
        .any(|word| key.contains(word))
}

/// Why a sed or awk script runs programs or writes files, if it does.
/// Conservative: a construct that could do so counts.
fn script_runs_code(script: Script, text: &str) -> Option<&'static str> {
    match script {
        Script::Awk => {
            if text.contains("system") {
                Some("calls `system`")
            } else if awk_pipes(text) {
                Some("pipes to or from a command")
            } else if text.contains("getline") {
                Some("reads with `getline`")
            } else if awk_print_redirects(text) {
                Some("prints into a file")
            } else {
                None
            }
        }
        Script::Sed => sed_runs_code(text),
        Script::Python => python_runs_code(text),
        Script::Node => words_run_code(text, NODE_REACH, "reaches processes, the network or dynamic code"),
        Script::Perl => words_run_code(text, PERL_REACH, "runs programs, opens pipes or loads code"),
        Script::Ruby => words_run_code(text, RUBY_REACH, "runs programs, opens connections or loads code"),
    }
}

/// Modules a `python -c` program may import and still only compute: none
/// of them starts programs or opens connections.
const PYTHON_PURE_MODULES: &[&str] = &[
    "json",
    "sys",
    "math",
    "cmath",
    "re",
    "datetime",
    "time",
    "random",
    "itertools",
    "functools",
    "collections",
    "string",
    "textwrap",
    "pathlib",
    "platform",
    "hashlib",
    "hmac",
    "base64",
    "csv",
    "statistics",
    "decimal",
    "fractions",
    "uuid",
    "pprint",
    "tomllib",
    "configparser",
    "argparse",
    "glob",
    "fnmatch",
    "difflib",
    "struct",
    "binascii",
    "zlib",
    "locale",
    "unicodedata",
    "enum",
    "dataclasses",
    "typing",
    "operator",
    "heapq",
    "bisect",
    "array",
    "copy",
    "calendar",
    "secrets",
    "shlex",
    "io",
    "contextlib",
    "abc",
    "numbers",
    "keyword",
    "ast",
    "traceback",
    "warnings",
    "sysconfig",
    "html",
    "xml",
    "gzip",
    "bz2",
    "lzma",
    "zipfile",
    "tarfile",
];

/// Why a `python -c` program may do more than compute: an import outside
/// [`PYTHON_PURE_MODULES`], a dunder (`__import__`, `__builtins__`), a
/// builtin that runs or reaches code by name, or an attribute path to a
/// module that does (`pathlib.os`, `sys.modules`).
fn python_runs_code(code: &str) -> Option<&'static str> {
    if code.contains("__") {
        return Some("reaches Python's internals (`__…__`)");
    }
    const BUILTINS: &[&str] =
        &["exec", "eval", "compile", "getattr", "setattr", "globals", "locals", "vars", "breakpoint"];
    if identifiers(code).any(|(word, next)| BUILTINS.contains(&word) && next == Some('(')) {
        return Some("runs code built at run time");
    }
    if code.contains(".os") || code.contains("sys.modules") || code.contains(".subprocess") {
        return Some("reaches a module that runs programs");
    }
    let statements = code.split([';', '\n']).map(str::trim);
    for statement in statements {
        let modules: Vec<&str> = if let Some(rest) = statement.strip_prefix("import ") {
            rest.split(',').map(|m| m.split_whitespace().next().unwrap_or_default()).collect()
        } else if let Some(rest) = statement.strip_prefix("from ") {
            rest.split_whitespace().next().into_iter().collect()
        } else {
            continue;
        };
        let pure = |module: &&str| PYTHON_PURE_MODULES.contains(&module.split('.').next().unwrap_or_default());
        if !modules.iter().all(pure) {
            return Some("imports a module that can run programs or open connections");
        }
    }
    None
}

/// Identifiers of `code` with the character that follows each.
fn identifiers(code: &str) -> impl Iterator<Item = (&str, Option<char>)> {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut rest = code;
    std::iter::from_fn(move || {
        let start = rest.find(is_word)?;
        let after = &rest[start..];
        let end = after.find(|c: char| !is_word(c)).unwrap_or(after.len());
        let word = &after[..end];
        rest = &after[end..];
        Some((word, rest.trim_start().chars().next()))
    })
}

/// Words that let node code start programs, reach the network or build
/// code at run time.
const NODE_REACH: &[&str] = &[
    "child_process",
    "spawn",
    "exec",
    "execSync",
    "fork",
    "fetch",
    "http",
    "https",
    "http2",
    "net",
    "dgram",
    "tls",
    "dns",
    "eval",
    "Function",
    "constructor",
    "import",
    "binding",
    "dlopen",
    "worker_threads",
    "vm",
    "cluster",
    "inspector",
    "XMLHttpRequest",
    "WebSocket",
    "globalThis",
    "mainModule",
    "Deno",
    "Bun",
    "__proto__",
];
const PERL_REACH: &[&str] = &[
    "system", "exec", "qx", "open", "pipe", "fork", "socket", "Socket", "LWP", "HTTP", "IO", "eval", "require", "use",
    "do", "syscall", "glob", "readpipe",
];
const RUBY_REACH: &[&str] = &[
    "system",
    "exec",
    "spawn",
    "popen",
    "open",
    "Open3",
    "Socket",
    "TCPSocket",
    "Net",
    "URI",
    "eval",
    "require",
    "load",
    "send",
    "__send__",
    "public_send",
    "Kernel",
    "Process",
    "fork",
    "syscall",
    "instance_eval",
    "class_eval",
    "const_get",
    "ObjectSpace",
    "method",
    "IO",
    "File",
];

/// Why code may do more than compute: one of `reach` as a word, a
/// backtick (perl and ruby run commands in them), `%x`, or a `require` of
/// a module by a name only known at run time.
fn words_run_code(code: &str, reach: &[&str], what: &'static str) -> Option<&'static str> {
    if code.contains('`') || code.contains("%x") {
        return Some("runs commands in backticks");
    }
    if identifiers(code).any(|(word, _)| reach.contains(&word)) {
        return Some(what);
    }
    // `require` (node's: perl and ruby name it in `reach`) only of pure
    // modules or of a JSON file.
    for call in code.split("require(").skip(1) {
        let name = call.trim_start().trim_start_matches(['"', '\'']);
        let name = name.split(['"', '\'']).next().unwrap_or_default();
        let pure =
            ["path", "util", "assert", "url", "querystring", "crypto", "buffer", "events", "string_decoder", "os"];
        if !(pure.contains(&name) || name.ends_with(".json")) {
            return Some("loads a module that can run programs or open connections");
        }
    }
    None
}

/// The bytes of an awk program outside string literals, with their index.
fn awk_code(text: &str) -> impl Iterator<Item = (usize, u8)> + '_ {
    let mut in_string = false;
    let mut escaped = false;
    text.bytes().enumerate().filter(move |&(_, byte)| {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            return false;
        }
        if byte == b'"' {
            in_string = true;
            return false;
        }
        true
    })
}

/// A `|` outside strings that is not half of `||`.
fn awk_pipes(text: &str) -> bool {
    let bytes = text.as_bytes();
    let pipe_at = |index: Option<usize>| index.and_then(|i| bytes.get(i)) == Some(&b'|');
    awk_code(text).any(|(index, byte)| byte == b'|' && !pipe_at(Some(index + 1)) && !pipe_at(index.checked_sub(1)))
}

/// `print … > FILE` or `>> FILE`: a `>` after `print` or `printf`, before
/// the statement ends, outside parentheses and strings (`print (a > b)`
/// and `NR > 1 { print }` compare).
fn awk_print_redirects(text: &str) -> bool {
    let bytes = text.as_bytes();
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut in_print = false;
    let mut depth = 0usize;
    for (index, byte) in awk_code(text) {
        if !in_print {
            let starts_word = index == 0 || !bytes.get(index - 1).copied().is_some_and(is_word);
            if starts_word && text[index..].starts_with("print") {
                in_print = true;
                depth = 0;
            }
            continue;
        }
        match byte {
            b'(' => depth += 1,
            b')' => depth = depth.saturating_sub(1),
            b';' | b'}' | b'\n' if depth == 0 => in_print = false,
            b'>' if depth == 0 => return true,
            _ => {}
        }
    }
    false
}

/// sed commands `e`, `w`, `W`, `r`, `R` and the `s` flags `e` and `w`.
fn sed_runs_code(text: &str) -> Option<&'static str> {
    for command in text.split(['\n', ';']) {
        let command = command.trim_start();
        // Skip an address: line numbers, `$`, `/re/`, ranges, `!`.
        let body = skip_address(command);
        match body.chars().next() {
            Some('e') => return Some("runs a command (`e`)"),
            Some('w' | 'W') => return Some("writes a file (`w`)"),
            Some('r' | 'R') => return Some("reads a file (`r`)"),
            Some('s') => {
                if let Some(flags) = s_flags(body)
                    && (flags.contains('e') || flags.contains('w'))
                {
                    return Some("runs or writes through `s///` flags");
                }
            }
            _ => {}
        }
    }
    None
}

fn skip_address(command: &str) -> &str {
    let mut rest = command;
    loop {
        let trimmed = rest.trim_start_matches(|c: char| c.is_ascii_digit() || matches!(c, '$' | ',' | '~' | '!' | ' '));
        if let Some(after) = trimmed.strip_prefix('/') {
            // A regex address: up to the next unescaped `/`.
            let mut escaped = false;
            let mut end = None;
            for (at, c) in after.char_indices() {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '/' {
                    end = Some(at);
                    break;
                }
            }
            match end {
                Some(end) => rest = &after[end + 1..],
                None => return "",
            }
        } else {
            return trimmed;
        }
    }
}

/// The flags of an `s` command: what follows its third delimiter.
fn s_flags(body: &str) -> Option<&str> {
    let mut chars = body.char_indices().skip(1);
    let (_, delimiter) = chars.next()?;
    let mut seen = 0;
    let mut escaped = false;
    for (at, c) in chars {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == delimiter {
            seen += 1;
            if seen == 2 {
                return Some(&body[at + c.len_utf8()..]);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stock catalogue, shipped with the policies.
    const STOCK: &str = include_str!("../../../policies/programs.toml");

    #[test]
    fn every_stock_model_reads_from_its_json() {
        let from_toml: toml::Value = toml::from_str(STOCK).expect("the stock catalogue parses");
        let programs = from_toml.get("program").and_then(toml::Value::as_table).expect("[program.…] tables");
        assert_eq!(STOCK_MODELS.len(), programs.len());
        let parsed = parse(STOCK).expect("the stock catalogue parses");
        assert_eq!(stock().by_name.len(), parsed.by_name.len());
        for (name, aliases, json) in STOCK_MODELS {
            let toml_model = serde_json::to_value(&programs[*name]).expect("as JSON");
            let json_model: serde_json::Value = serde_json::from_str(json).expect("the embedded JSON parses");
            assert_eq!(toml_model, json_model, "{name}");
            for alias_or_name in aliases.iter().chain([name]) {
                let lazy = stock().get(alias_or_name).unwrap_or_else(|| panic!("{alias_or_name} reads"));
                let model = parsed.get(alias_or_name).expect("in the TOML");
                assert_eq!(format!("{:?}", lazy.long_forms), format!("{:?}", model.long_forms), "{name}");
                assert_eq!(lazy.roles.len(), model.roles.len(), "{name}");
                assert_eq!(lazy.subcommand.len(), model.subcommand.len(), "{name}");
            }
        }
    }

    fn words(args: &[&str]) -> Vec<Word> {
        args.iter().map(|a| Word::Known((*a).to_owned())).collect()
    }

    fn of(program: &str, args: &[&str]) -> Effects {
        let model = stock().get(program).unwrap_or_else(|| panic!("no model for {program}"));
        effects(program, model, &words(args))
    }

    #[test]
    fn the_stock_catalogue_parses_and_covers_the_file_programs() {
        let models = parse(STOCK).expect("the stock catalogue parses");
        for name in ["cat", "cp", "mv", "ln", "tee", "sort", "sed", "awk", "grep", "rg", "tar", "curl", "git", "uniq"] {
            assert!(models.contains(name), "{name}");
        }
        let error = parse("[program.x]\noperands = \"read\"\nbogus = 1\n").expect_err("unknown field");
        assert!(error.contains("line 3"), "{error}");
    }

    #[test]
    fn subcommands_read_their_own_options() {
        assert_eq!(of("git", &["rebase", "-x", "make test", "main"]).shell, ["make test"]);
        assert_eq!(of("git", &["rebase", "--exec=make", "main"]).shell, ["make"]);
        assert_eq!(of("git", &["log", "--output", "/tmp/x"]).writes, ["/tmp/x"]);
        assert_eq!(of("git", &["-C", "sub", "log", "--output=y"]).writes, ["y"]);
        assert_eq!(of("git", &["grep", "-Oless", "x"]).unanalysable.len(), 1);
        assert!(!of("git", &["clone", "--template", "t", "https://h/r"]).unanalysable.is_empty());
        assert_eq!(of("git", &["worktree", "add", "../other", "main"]).writes, ["../other", "main"]);
        assert_eq!(of("cargo", &["new", "../x"]).writes, ["../x"]);
        assert_eq!(of("cargo", &["build", "--release"]).writes, Vec::<String>::new());
        assert_eq!(of("pip", &["download", "-d", "/w", "flask"]).into, [("/w".to_owned(), vec!["*".to_owned()])]);
        // `-x` is rebase's: elsewhere it is a plain flag or another option.
        assert!(of("git", &["log", "-x", "a"]).shell.is_empty());
        // A subcommand only known at run time could be any of them.
        let unknown = Effects { long_forms: Default::default(), ..of("git", &["x"]) };
        assert_eq!(unknown, Effects::default());
        let words = vec![Word::Unknown, Word::Known("-x".into())];
        let model = stock().get("git").expect("git");
        assert!(!effects("git", model, &words).unanalysable.is_empty());
    }

    #[test]
    fn long_forms_follow_the_subcommand() {
        let forms = |args: &[&str]| {
            of("git", args).long_forms.iter().map(|f| format!("-{} --{}", f.short, f.long)).collect::<Vec<_>>()
        };
        assert!(forms(&["push", "-f"]).contains(&"-f --force".to_owned()));
        assert!(forms(&["branch", "-d", "x"]).contains(&"-d --delete".to_owned()));
        assert!(forms(&["switch", "-d", "x"]).contains(&"-d --detach".to_owned()));
        assert!(!forms(&["status"]).iter().any(|f| f.starts_with("-d ")));
        assert_eq!(of("git", &["restore", "src/a.rs"]).implied, ["--worktree"]);
        assert!(of("git", &["restore", "--staged", "src/a.rs"]).implied.is_empty());
        assert!(of("git", &["restore", "--sta", "src/a.rs"]).implied.is_empty());
    }

    #[test]
    fn abbreviated_long_options_are_the_options_they_abbreviate() {
        assert_eq!(of("sed", &["--in-pl", "s/a/b/", "f"]).writes, ["f"]);
        assert_eq!(of("rm", &["--rec", "d"]).deleted_trees, ["d"]);
        // An abbreviation that takes a value may also be an option the
        // model does not list: its word is judged as an operand too.
        let into = vec!["dir".to_owned(), "a".to_owned()];
        assert_eq!(of("cp", &["--target-d", "dir", "a"]).into, [("dir".to_owned(), into)]);
        let copied = of("cp", &["--suff", "x", "a", "b"]);
        assert_eq!(copied.destination, Some(("b".to_owned(), vec!["x".to_owned(), "a".to_owned()])));
        // Too short or ambiguous, nothing is resolved.
        assert!(of("rm", &["--r", "d"]).deleted_trees.is_empty());
        assert_eq!(of("tar", &["--ex", "x", "-cf", "a.tar", "."]).reads.len(), 3);
    }

    #[test]
    fn the_catalogue_check_reads_the_new_fields() {
        let errors = |text: &str| check_catalogue(text).into_iter().map(|e| e.message).collect::<Vec<_>>();
        assert_eq!(errors("[program.x]\nvalue_options = [\"-v\"]\n"), ["`x` gives no `operands`"]);
        assert_eq!(
            errors("[program.x]\noperands = \"none\"\nlong_forms = { rr = \"--recursive\" }\n"),
            ["`x`: `rr` in `long_forms` is not a short option's letter"]
        );
        assert_eq!(
            errors("[program.x]\noperands = \"none\"\n[program.x.subcommand.y]\nshell_options = [\"x\"]\n"),
            ["`x y`: `x` in `shell_options` is not an option (options start with `-`)"]
        );
        assert!(errors(STOCK).is_empty(), "{:?}", errors(STOCK));
    }

    #[test]
    fn operands_and_option_values_become_reads_and_writes() {
        assert_eq!(of("cat", &["a", "-n", "b"]).reads, ["a", "b"]);
        let copy = of("cp", &["-r", "src", "dst"]);
        assert_eq!(
            Effects { long_forms: Default::default(), ..copy },
            Effects {
                reads: vec!["src".into()],
                destination: Some(("dst".into(), vec!["src".into()])),
                ..Effects::default()
            }
        );
        assert_eq!(of("cp", &["x", "-t", "dir"]).into, [("dir".to_owned(), vec!["x".to_owned()])]);
        assert_eq!(of("ln", &["-s", "../t", "link"]).links, [("link".to_owned(), "../t".to_owned())]);
        assert_eq!(
            of("curl", &["-fsSL", "https://example.com:8443/x"]).connections,
            [("example.com".to_owned(), 8443)]
        );
        assert_eq!(of("find", &["src", "-name", "*.rs"]).reads, ["src"]);
        assert_eq!(of("find", &["-name", "x"]).reads, ["."]);
        assert_eq!(of("rm", &["-rf", "a"]).deleted_trees, ["a"]);
        assert_eq!(of("rm", &["-f", "a"]).deleted_trees, Vec::<String>::new());
        assert_eq!(of("sort", &["-o", "out", "in"]).writes, ["out"]);
        assert_eq!(of("sort", &["-oout", "in"]).writes, ["out"]);
        assert_eq!(of("sort", &["--output=out", "in"]).reads, ["in"]);
        assert_eq!(of("tee", &["-a", "~/.bashrc"]).writes, ["~/.bashrc"]);
        assert_eq!(of("ln", &["-sf", "a", "b"]).destination, Some(("b".to_owned(), vec!["a".to_owned()])));
        assert_eq!(of("uniq", &["in", "out"]).destination, Some(("out".to_owned(), vec!["in".to_owned()])));
        assert_eq!(of("grep", &["-r", ".", "~/.ssh"]).reads, ["~/.ssh"]);
        assert_eq!(of("grep", &["-e", "x", "file"]).reads, ["file"]);
        assert_eq!(of("cut", &["-c1-", "f"]).reads, ["f"]);
        assert_eq!(of("date", &["-f", "secret"]).reads, ["secret"]);
        assert_eq!(of("sed", &["-i", "s/a/b/", "~/.bashrc"]).writes, ["~/.bashrc"]);
        assert_eq!(of("curl", &["-d", "@~/.ssh/id_rsa", "https://x"]).reads, ["~/.ssh/id_rsa"]);
        assert_eq!(of("git", &["log", "--output=f"]).writes, ["f"]);
        assert_eq!(of("chmod", &["+x", "run.sh"]).writes, ["run.sh"]);
        assert_eq!(of("rm", &["--", "-rf"]).writes, ["-rf"]);
    }

    #[test]
    fn code_inside_scripts_and_options_is_unanalysable() {
        for (program, args) in [
            ("sed", &["-n", "1e git push"][..]),
            ("sed", &["s/x/y/e"]),
            ("sed", &["-e", "w /tmp/out"]),
            ("sed", &["/re/e id"]),
            ("awk", &["BEGIN{system(\"id\")}"]),
            ("awk", &["{print | \"sh\"}"]),
            ("tar", &["xf", "a.tar", "--to-command=sh"]),
            ("tar", &["-I", "sh -c id", "-xf", "a.tar"]),
            ("git", &["-c", "core.fsmonitor=./x", "status"]),
            ("git", &["grep", "-O", "x"]),
            ("git", &["--exec-path=/tmp", "status"]),
        ] {
            assert!(!of(program, args).unanalysable.is_empty(), "{program} {args:?}");
        }
        for (program, args) in [
            ("sed", &["-n", "s/a/b/p", "f"][..]),
            ("sed", &["1d"]),
            ("awk", &["{print $1}"]),
            ("git", &["-c", "user.name=x", "commit"]),
            ("git", &["clean", "-fdx"]),
        ] {
            assert!(of(program, args).unanalysable.is_empty(), "{program} {args:?}");
        }
        assert_eq!(of("git", &["rebase", "-x", "make test", "main"]).shell, ["make test"]);
    }
}
