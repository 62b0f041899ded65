//! From the YAML model to a checked [`Plan`], collecting every problem on the way.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use indexmap::IndexMap;
use serde_json::Value;
use serde_saphyr::Spanned;

use super::duration::parse_duration;
use super::model::{DefaultsDecl, InputType, JitterDecl, PlanFile, RetryDecl, StepDecl};
use super::yaml::{YamlValue, location_of};
use super::{
    Diagnostic, Diagnostics, FieldKind, FieldSpec, Jitter, Location, Plan, PlanError, RetryPolicy,
    SourceFile, Step, StepCatalog, StepSchema, sha256_hex, suggestion,
};
use crate::template::{Reference, Scope, Template, TemplateErrorKind, TemplateValue};

/// Most "did you mean" searches over a plan's step ids and inputs.
const MAX_HINTS: usize = 100;

/// Default timeout of one attempt.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

pub(super) fn check(
    source: SourceFile,
    vars: &[(String, String)],
    catalog: &dyn StepCatalog,
) -> Result<Plan, PlanError> {
    let tree = match super::parse::parse(&source) {
        Ok(tree) => tree,
        Err(diagnostic) => {
            let mut diagnostics = Diagnostics::default();
            diagnostics.push(*diagnostic);
            return Err(PlanError::Invalid {
                file: source,
                diagnostics,
            });
        }
    };
    let mut diags = Diagnostics::default();
    let file = super::decode::decode(&tree, &mut diags);
    let mut checker = Checker {
        source: &source,
        catalog,
        diags,
        unresolved: HashSet::new(),
        scope: Scope::default(),
        hints_left: MAX_HINTS,
    };
    let mut plan = checker.plan(file, vars);
    let mut diagnostics = checker.diags;
    if diagnostics.has_errors() {
        diagnostics.sort();
        return Err(PlanError::Invalid {
            file: source,
            diagnostics,
        });
    }
    plan.hash = sha256_hex(source.text.as_bytes());
    plan.source = source;
    Ok(plan)
}

struct Checker<'a> {
    source: &'a SourceFile,
    catalog: &'a dyn StepCatalog,
    diags: Diagnostics,
    /// Declared inputs whose value could not be resolved (already reported).
    unresolved: HashSet<String>,
    /// What templates can see before the run: resolved inputs, and placeholders for every
    /// step's outputs.
    scope: Scope,
    /// How many more "did you mean" searches over step ids and inputs may run; each is linear
    /// in the plan, so a plan with thousands of broken references stays fast.
    hints_left: usize,
}

/// Facts about the plan's steps that reference checks need.
struct StepIndex {
    /// Step id → step type (only steps with a known type).
    types: HashMap<String, Option<StepSchema>>,
    ids: Vec<String>,
}

impl Checker<'_> {
    fn error(
        &mut self,
        code: &'static str,
        message: impl Into<String>,
        at: Location,
    ) -> &mut Diagnostic {
        self.diags.push(Diagnostic::error(code, message).at(at));
        self.diags.0.last_mut().expect("just pushed")
    }

    fn plan(&mut self, file: PlanFile, vars: &[(String, String)]) -> Plan {
        let inputs = self.inputs(&file, vars);
        let defaults = self.defaults(file.defaults.as_ref());

        // Index the steps first so that references can point forward or backward.
        let mut index = StepIndex {
            types: HashMap::new(),
            ids: Vec::new(),
        };
        let mut first_seen: HashMap<String, Location> = HashMap::new();
        for decl in &file.steps.value {
            let id = &decl.id.value;
            let at = location_of(&decl.id);
            if let Some(first) = first_seen.get(id) {
                let first = *first;
                self.error("duplicate-step-id", format!("duplicate step id `{id}`"), at)
                    .with_step(id)
                    .help = Some(format!(
                    "first defined at line {}; step ids must be unique",
                    first.line
                ));
                self.error(
                    "duplicate-step-id",
                    format!("step id `{id}` is defined again at line {}", at.line),
                    first,
                )
                .with_step(id);
                continue;
            }
            first_seen.insert(id.clone(), at);
            if !is_identifier(id) {
                self.error(
                    "step-id",
                    format!("step id `{id}` is not a valid identifier"),
                    at,
                )
                .with_step(id)
                .help = Some(
                    "use letters, digits and `_`, starting with a letter or `_` (templates refer to it as `steps.<id>`)"
                        .to_owned(),
                );
            }
            let schema = self.catalog.schema(&decl.step_type.value);
            // An empty type was already reported as missing or mistyped.
            if schema.is_none() && !decl.step_type.value.is_empty() {
                let names = self.catalog.names();
                let hint = suggestion(&decl.step_type.value, names.iter().copied());
                self.error(
                    "unknown-step-type",
                    format!(
                        "step `{id}` has unknown type `{}`{hint}",
                        decl.step_type.value
                    ),
                    location_of(&decl.step_type),
                )
                .with_step(id)
                .help = Some(format!("known step types: {}", names.join(", ")));
            }
            index.types.insert(id.clone(), schema);
            index.ids.push(id.clone());
        }
        self.scope = Scope::new(Value::Object(
            inputs
                .iter()
                .map(|(k, (v, _))| (k.clone(), v.clone()))
                .collect(),
        ));
        for id in &index.ids {
            self.scope.set_unknown(id);
        }

        let mut steps = Vec::with_capacity(file.steps.value.len());
        let mut seen = HashSet::new();
        for decl in &file.steps.value {
            if !seen.insert(decl.id.value.clone()) {
                continue;
            }
            if let Some(step) = self.step(decl, &index, &inputs, &defaults) {
                steps.push(step);
            }
        }
        self.cycles(&steps);

        let mut outputs = IndexMap::new();
        for (key, value) in &file.outputs {
            let tv = self.template_value(value, None, &format!("outputs.{}", key.value));
            self.references(&tv.1, None, &index, &inputs);
            outputs.insert(key.value.clone(), tv.0);
        }

        Plan {
            source: SourceFile::new("", ""),
            hash: String::new(),
            name: file.name.value.clone(),
            description: file.description.clone(),
            inputs: inputs.into_iter().map(|(k, v)| (k, v.0)).collect(),
            steps,
            outputs,
        }
    }

    /// Resolves inputs: `--var` over `default`; reports missing and undeclared ones.
    fn inputs(
        &mut self,
        file: &PlanFile,
        vars: &[(String, String)],
    ) -> IndexMap<String, (Value, Location)> {
        let mut resolved = IndexMap::new();
        let declared: Vec<&str> = file.inputs.iter().map(|(k, _)| k.value.as_str()).collect();
        for (name, _) in vars {
            if !declared.contains(&name.as_str()) {
                let hint = suggestion(name, declared.iter().copied());
                let mut d = Diagnostic::error(
                    "unknown-var",
                    format!("--var `{name}` names no input of this plan{hint}"),
                );
                d.help = Some(if declared.is_empty() {
                    "the plan declares no inputs".to_owned()
                } else {
                    format!("declared inputs: {}", declared.join(", "))
                });
                self.diags.push(d);
            }
        }
        for (key, decl) in &file.inputs {
            let name = &key.value;
            let at = location_of(key);
            if !is_identifier(name) {
                self.error("input-name", format!("input name `{name}` is not a valid identifier"), at)
                    .with_path_mut(format!("inputs.{name}"))
                    .help = Some(
                    "use letters, digits and `_`, starting with a letter or `_` (templates refer to it as `inputs.<name>`)"
                        .to_owned(),
                );
            }
            let ty = decl.ty.as_ref().map(|t| t.value);
            let given = vars.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v);
            let value = match (given, &decl.default) {
                (Some(text), _) => match parse_var(text, ty) {
                    Ok(v) => Some(v),
                    Err(msg) => {
                        self.unresolved.insert(name.clone());
                        let declared = ty.map_or("string", InputType::as_str);
                        self.error(
                            "var-type",
                            format!(
                                "--var `{name}={text}`: {msg} (input `{name}` is declared `{declared}`)"
                            ),
                            at,
                        )
                        .with_path_mut(format!("inputs.{name}"));
                        None
                    }
                },
                (None, Some(default)) => {
                    let value = default.value.to_json();
                    if let Some(ty) = ty
                        && !type_matches(&value, ty)
                    {
                        self.error(
                            "input-type",
                            format!(
                                "default of input `{name}` is {}, but the input is declared `{}`",
                                default.value.describe(),
                                ty.as_str()
                            ),
                            location_of(default),
                        )
                        .with_path_mut(format!("inputs.{name}.default"));
                        // Templates using it are not checked further.
                        self.unresolved.insert(name.clone());
                        None
                    } else {
                        Some(value)
                    }
                }
                (None, None) => {
                    self.error(
                        "missing-input",
                        format!("input `{name}` has no default and was not given"),
                        at,
                    )
                    .help = Some(format!(
                        "pass `--var {name}=VALUE` or give the input a `default`"
                    ));
                    self.unresolved.insert(name.clone());
                    None
                }
            };
            if let Some(value) = value {
                resolved.insert(name.clone(), (value, at));
            }
        }
        resolved
    }

    fn defaults(
        &mut self,
        decl: Option<&DefaultsDecl>,
    ) -> (RetryPolicy, Duration, Option<Duration>) {
        let retry = self.retry(
            decl.and_then(|d| d.retry.as_ref()),
            RetryPolicy::default(),
            None,
        );
        let timeout = decl
            .and_then(|d| d.timeout.as_ref())
            .and_then(|t| self.duration(t, "defaults.timeout", None))
            .unwrap_or(DEFAULT_TIMEOUT);
        let deadline = decl
            .and_then(|d| d.deadline.as_ref())
            .and_then(|t| self.duration(t, "defaults.deadline", None));
        (retry, timeout, deadline)
    }

    /// Parses the duration `text` of `field` (named in messages as it is, followed by
    /// ` of step `<step>`` for a step's own field).
    fn duration(
        &mut self,
        text: &Spanned<String>,
        field: &str,
        step: Option<&str>,
    ) -> Option<Duration> {
        let named = owned_field(field, step);
        let message = match parse_duration(&text.value) {
            Ok(d) if d.is_zero() => format!("{named} must be longer than zero"),
            Ok(d) => return Some(d),
            Err(msg) => format!("{named} is not a duration: {msg}"),
        };
        let d = self.error("duration", message, location_of(text));
        d.step = step.map(str::to_owned);
        None
    }

    fn retry(
        &mut self,
        decl: Option<&RetryDecl>,
        base: RetryPolicy,
        step: Option<&str>,
    ) -> RetryPolicy {
        let Some(decl) = decl else { return base };
        let prefix = match step {
            Some(_) => "retry",
            None => "defaults.retry",
        };
        let mut policy = base;
        if let Some(n) = &decl.max_attempts {
            if n.value == 0 {
                let d = self.error(
                    "retry-range",
                    format!(
                        "{} must be at least 1, not {} (it counts the first attempt)",
                        owned_field(&format!("{prefix}.max_attempts"), step),
                        n.value
                    ),
                    location_of(n),
                );
                d.step = step.map(str::to_owned);
            } else {
                policy.max_attempts = n.value;
            }
        }
        if let Some(t) = &decl.initial_delay
            && let Some(d) = self.duration(t, &format!("{prefix}.initial_delay"), step)
        {
            policy.initial_delay = d;
        }
        if let Some(t) = &decl.max_delay
            && let Some(d) = self.duration(t, &format!("{prefix}.max_delay"), step)
        {
            policy.max_delay = d;
        }
        if let Some(m) = &decl.multiplier {
            if !(1.0..=100.0).contains(&m.value) {
                let d = self.error(
                    "retry-range",
                    format!(
                        "{} must be between 1.0 and 100.0, not {}",
                        owned_field(&format!("{prefix}.multiplier"), step),
                        m.value
                    ),
                    location_of(m),
                );
                d.step = step.map(str::to_owned);
            } else {
                policy.multiplier = m.value;
            }
        }
        if let Some(j) = &decl.jitter {
            policy.jitter = match j.value {
                JitterDecl::None => Jitter::None,
                JitterDecl::Full => Jitter::Full,
            };
        }
        if policy.max_delay < policy.initial_delay {
            let at = decl
                .max_delay
                .as_ref()
                .or(decl.initial_delay.as_ref())
                .map(location_of)
                .unwrap_or_default();
            let d = self.error(
                "retry-range",
                format!(
                    "{} ({}) is shorter than `{prefix}.initial_delay` ({})",
                    owned_field(&format!("{prefix}.max_delay"), step),
                    super::duration::format_duration(policy.max_delay),
                    super::duration::format_duration(policy.initial_delay)
                ),
                at,
            );
            d.step = step.map(str::to_owned);
        }
        policy
    }

    fn step(
        &mut self,
        decl: &StepDecl,
        index: &StepIndex,
        inputs: &IndexMap<String, (Value, Location)>,
        defaults: &(RetryPolicy, Duration, Option<Duration>),
    ) -> Option<Step> {
        let id = decl.id.value.clone();
        let schema = index.types.get(&id).copied().flatten();
        let with = match &decl.with {
            Some(with) => {
                let (tv, located) = self.template_value(with, Some(&id), "with");
                if let Some(schema) = &schema {
                    self.check_fields(with, schema, &id);
                }
                self.references(&located, Some(&id), index, inputs);
                tv
            }
            None => {
                if let Some(schema) = &schema {
                    let required: Vec<&str> = schema
                        .inputs
                        .iter()
                        .filter(|f| f.required && !f.path.contains('.') && !f.path.contains('['))
                        .map(|f| f.path)
                        .collect();
                    if !required.is_empty() {
                        self.error(
                            "missing-field",
                            format!(
                                "step `{id}` ({}) has no `with`; it needs {}",
                                schema.name,
                                join_code(&required)
                            ),
                            location_of(&decl.id),
                        )
                        .with_step(&id);
                    }
                }
                TemplateValue::Map(IndexMap::new())
            }
        };

        let mut needs: Vec<String> = Vec::new();
        let mut needed: HashSet<String> = HashSet::new();
        with.visit_templates(&mut |t| {
            for r in t.references() {
                if let Reference::StepOutput { step, .. } = r.reference
                    && index.types.contains_key(&step)
                    && step != id
                    && needed.insert(step.clone())
                {
                    needs.push(step);
                }
            }
        });
        for dep in &decl.depends_on {
            let at = location_of(dep);
            if dep.value == id {
                self.error(
                    "self-dependency",
                    format!("step `{id}` depends on itself"),
                    at,
                )
                .with_step(&id)
                .help = Some("remove it from `depends_on`".to_owned());
            } else if !index.types.contains_key(&dep.value) {
                let hint = self.hint(&dep.value, index.ids.iter().map(String::as_str));
                self.error(
                    "unknown-dependency",
                    format!(
                        "step `{id}` depends on `{}`, but no step has that id{hint}",
                        dep.value
                    ),
                    at,
                )
                .with_step(&id);
            } else if needed.insert(dep.value.clone()) {
                needs.push(dep.value.clone());
            }
        }

        let retry = self.retry(decl.retry.as_ref(), defaults.0, Some(&id));
        let timeout = decl
            .timeout
            .as_ref()
            .and_then(|t| self.duration(t, "timeout", Some(&id)))
            .unwrap_or(defaults.1);
        let deadline = match &decl.deadline {
            Some(t) => self.duration(t, "deadline", Some(&id)),
            None => defaults.2,
        };
        Some(Step {
            id,
            step_type: decl.step_type.value.clone(),
            description: decl.description.clone(),
            with,
            needs,
            retry,
            timeout,
            deadline,
            location: location_of(&decl.id),
        })
    }

    /// Converts a YAML value into a template value, reporting template syntax errors. Also
    /// returns every template with the location of its string, for reference checks.
    fn template_value(
        &mut self,
        value: &Spanned<YamlValue>,
        step: Option<&str>,
        path: &str,
    ) -> (TemplateValue, Vec<(Template, Location, String)>) {
        let mut located = Vec::new();
        let tv = self.convert(value, step, path, &mut located);
        (tv, located)
    }

    fn convert(
        &mut self,
        value: &Spanned<YamlValue>,
        step: Option<&str>,
        path: &str,
        located: &mut Vec<(Template, Location, String)>,
    ) -> TemplateValue {
        match &value.value {
            YamlValue::Null => TemplateValue::Null,
            YamlValue::Bool(b) => TemplateValue::Bool(*b),
            YamlValue::Number(n) => TemplateValue::Number(n.clone()),
            YamlValue::String(s) => match Template::parse(s) {
                Ok(t) => {
                    located.push((t.clone(), location_of(value), path.to_owned()));
                    TemplateValue::String(t)
                }
                Err(err) => {
                    let d = self.error(
                        "template-syntax",
                        format!("{} in `{path}`", err.message),
                        self.source.locate_in_scalar(
                            location_of(value),
                            s,
                            err.offset.unwrap_or(0),
                        ),
                    );
                    d.step = step.map(str::to_owned);
                    d.path = Some(path.to_owned());
                    TemplateValue::String(Template::literal(s))
                }
            },
            YamlValue::List(items) => TemplateValue::List(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| self.convert(item, step, &format!("{path}[{i}]"), located))
                    .collect(),
            ),
            YamlValue::Map(entries) => TemplateValue::Map(
                entries
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.value.clone(),
                            self.convert(v, step, &format!("{path}.{}", k.value), located),
                        )
                    })
                    .collect(),
            ),
        }
    }

    /// Checks the references of templates against declared inputs, steps and outputs.
    fn references(
        &mut self,
        templates: &[(Template, Location, String)],
        step: Option<&str>,
        index: &StepIndex,
        inputs: &IndexMap<String, (Value, Location)>,
    ) {
        for (template, at, path) in templates {
            let owner = match step {
                Some(s) => format!("step `{s}`"),
                // `path` is `outputs.<name>` (possibly deeper); name the plan output.
                None => {
                    let name = path.strip_prefix("outputs.").unwrap_or(path);
                    let name = name.split(['.', '[']).next().unwrap_or(name);
                    format!("plan output `{name}`")
                }
            };
            let reported = self.diags.0.len();
            self.reference_names(template, *at, path, step, &owner, index, inputs);
            if self.diags.0.len() == reported {
                self.render_check(template, *at, path, step, &owner);
            }
        }
    }

    /// Renders `template` as far as it can be known before the run, and reports what cannot
    /// work: a filter, function or test that does not exist, or — for a template that uses
    /// inputs only — any rendering error (undefined attribute, invalid operation, …).
    fn render_check(
        &mut self,
        template: &Template,
        at: Location,
        path: &str,
        step: Option<&str>,
        owner: &str,
    ) {
        let Err(err) = template.render(&self.scope) else {
            return;
        };
        if err.kind == TemplateErrorKind::UnknownName || self.is_static(template) {
            let here = self.source.locate_in_scalar(at, template.source(), 0);
            let d = self.error(
                "template-render",
                format!("{owner}: `{path}` cannot be rendered: {}", err.message),
                here,
            );
            d.step = step.map(str::to_owned);
            d.path = Some(path.to_owned());
        }
    }

    /// True when a template uses resolved inputs only, so that it renders now exactly as it
    /// will at run time.
    fn is_static(&self, template: &Template) -> bool {
        template.references().iter().all(|r| match &r.reference {
            Reference::Input { name } => !self.unresolved.contains(name),
            Reference::Inputs => self.unresolved.is_empty(),
            _ => false,
        })
    }

    /// Checks the names one template refers to.
    #[allow(clippy::too_many_arguments)]
    fn reference_names(
        &mut self,
        template: &Template,
        at: Location,
        path: &str,
        step: Option<&str>,
        owner: &str,
        index: &StepIndex,
        inputs: &IndexMap<String, (Value, Location)>,
    ) {
        {
            for located in template.references() {
                let here = self
                    .source
                    .locate_in_scalar(at, template.source(), located.offset);
                let report =
                    |this: &mut Self, code: &'static str, message: String, help: Option<String>| {
                        let d = this.error(code, message, here);
                        d.step = step.map(str::to_owned);
                        d.path = Some(path.to_owned());
                        d.help = help;
                    };
                match located.reference {
                    Reference::Input { name } => {
                        if !inputs.contains_key(&name) && !self.input_declared_but_unresolved(&name)
                        {
                            let hint = self.hint(&name, inputs.keys().map(String::as_str));
                            report(
                                self,
                                "unknown-input",
                                format!(
                                    "{owner} refers to `inputs.{name}`; no input `{name}` is declared{hint}"
                                ),
                                None,
                            );
                        }
                    }
                    Reference::StepOutput {
                        step: target,
                        output,
                    } => {
                        let reference = match &output {
                            Some(o) => format!("steps.{target}.outputs.{o}"),
                            None => format!("steps.{target}.outputs"),
                        };
                        if Some(target.as_str()) == step {
                            report(
                                self,
                                "self-reference",
                                format!("{owner} refers to its own outputs (`{reference}`)"),
                                Some("a step can only use outputs of other steps".to_owned()),
                            );
                            continue;
                        }
                        match index.types.get(&target) {
                            None => {
                                let hint = self.hint(&target, index.ids.iter().map(String::as_str));
                                report(
                                    self,
                                    "unknown-step",
                                    format!(
                                        "{owner} refers to `{reference}`; no step `{target}`{hint}"
                                    ),
                                    None,
                                );
                            }
                            Some(Some(schema)) => {
                                if let Some(output) = output
                                    && !schema.outputs.contains(&output.as_str())
                                {
                                    let hint = suggestion(&output, schema.outputs.iter().copied());
                                    report(
                                        self,
                                        "unknown-output",
                                        format!(
                                            "{owner} refers to `{reference}`; step `{target}` ({}) has no output `{output}`{hint}",
                                            schema.name
                                        ),
                                        Some(format!(
                                            "{} outputs: {}",
                                            schema.name,
                                            schema.outputs.join(", ")
                                        )),
                                    );
                                }
                            }
                            Some(None) => {} // unknown type already reported
                        }
                    }
                    Reference::StepWithoutOutputs {
                        step: target,
                        attribute,
                    } => {
                        let written = match &attribute {
                            Some(a) => format!("steps.{target}.{a}"),
                            None => format!("steps.{target}"),
                        };
                        let fix = match &attribute {
                            Some(a) => format!("steps.{target}.outputs.{a}"),
                            None => format!("steps.{target}.outputs.<name>"),
                        };
                        report(
                            self,
                            "missing-outputs",
                            format!(
                                "{owner} refers to `{written}`; step values live under `outputs`"
                            ),
                            Some(format!("write `{fix}`")),
                        );
                    }
                    Reference::Steps | Reference::Inputs => {}
                    Reference::Unknown { name } => {
                        let hint = suggestion(&name, ["inputs", "steps"]);
                        report(
                            self,
                            "unknown-name",
                            format!("{owner} refers to `{name}`, which is not defined{hint}"),
                            Some(
                                "templates can use `inputs.<name>` and `steps.<id>.outputs.<name>`"
                                    .to_owned(),
                            ),
                        );
                    }
                }
            }
        }
    }

    /// `" (did you mean `x`?)"` for a name among many candidates, while the budget lasts.
    fn hint<'c>(&mut self, name: &str, candidates: impl IntoIterator<Item = &'c str>) -> String {
        if self.hints_left == 0 {
            return String::new();
        }
        self.hints_left -= 1;
        suggestion(name, candidates)
    }

    fn input_declared_but_unresolved(&self, name: &str) -> bool {
        // A declared input that failed to resolve was already reported; don't report it twice.
        self.unresolved.contains(name)
    }

    /// Checks `with` against the step type's declared fields.
    fn check_fields(&mut self, with: &Spanned<YamlValue>, schema: &StepSchema, step: &str) {
        let YamlValue::Map(_) = &with.value else {
            self.error(
                "field-type",
                format!(
                    "`with` of step `{step}` must be a mapping, not {}",
                    with.value.describe()
                ),
                location_of(with),
            )
            .with_step(step);
            return;
        };
        self.check_node(with, "", schema, step);
    }

    fn check_node(
        &mut self,
        node: &Spanned<YamlValue>,
        spec_path: &str,
        schema: &StepSchema,
        step: &str,
    ) {
        match &node.value {
            YamlValue::Map(entries) => {
                let children: Vec<&FieldSpec> = schema
                    .inputs
                    .iter()
                    .filter(|f| parent_of(f.path) == spec_path)
                    .collect();
                for (key, value) in entries {
                    let child_path = join_path(spec_path, &key.value);
                    match children.iter().find(|f| f.path == child_path) {
                        Some(spec) => {
                            self.check_value(value, spec, schema, step);
                        }
                        None => {
                            let names: Vec<&str> = children.iter().map(|f| leaf(f.path)).collect();
                            let hint = suggestion(&key.value, names.iter().copied());
                            let shown = display_path(&child_path);
                            self.error(
                                "unknown-field",
                                format!(
                                    "step `{step}` ({}) has unknown field `{shown}`{hint}",
                                    schema.name
                                ),
                                location_of(key),
                            )
                            .with_step(step)
                            .with_path_mut(format!("with.{shown}"))
                            .help = Some(format!("fields allowed here: {}", names.join(", ")));
                        }
                    }
                }
                for spec in children.iter().filter(|f| f.required) {
                    if !entries
                        .iter()
                        .any(|(k, _)| join_path(spec_path, &k.value) == spec.path)
                    {
                        let shown = display_path(spec.path);
                        self.error(
                            "missing-field",
                            format!(
                                "step `{step}` ({}) is missing required field `{shown}`",
                                schema.name
                            ),
                            location_of(node),
                        )
                        .with_step(step)
                        .with_path_mut(format!("with.{shown}"));
                    }
                }
            }
            YamlValue::List(items) => {
                let item_path = format!("{spec_path}[]");
                let item_spec = schema.inputs.iter().find(|f| f.path == item_path);
                for item in items {
                    match item_spec {
                        Some(spec) => self.check_value(item, spec, schema, step),
                        None if schema.inputs.iter().any(|f| parent_of(f.path) == item_path) => {
                            self.check_node(item, &item_path, schema, step);
                        }
                        None => {}
                    }
                }
            }
            _ => {}
        }
    }

    fn check_value(
        &mut self,
        value: &Spanned<YamlValue>,
        spec: &FieldSpec,
        schema: &StepSchema,
        step: &str,
    ) {
        let field = Field {
            spec,
            schema,
            step,
            at: location_of(value),
            origin: None,
        };
        match &value.value {
            YamlValue::String(s) => match Template::parse(s) {
                Ok(t) if t.is_literal() => self.check_scalar(&Value::String(s.clone()), &field),
                // A template that uses inputs only is known now: check what it renders to
                // (errors rendering it are reported with the template's references).
                Ok(t) if self.is_static(&t) => {
                    if let Ok(rendered) = t.render(&self.scope) {
                        let at = self.source.inside_quotes(field.at);
                        self.check_scalar(
                            &rendered,
                            &Field {
                                at,
                                origin: Some(s),
                                ..field
                            },
                        );
                    }
                }
                // Known only at run time, or already reported as a syntax error.
                Ok(_) | Err(_) => {}
            },
            YamlValue::Map(_) | YamlValue::List(_) => {
                if self.check_kind(&value.value.to_json(), &field) {
                    self.check_node(value, spec.path, schema, step);
                }
            }
            other => self.check_scalar(&other.to_json(), &field),
        }
    }

    /// Reports a value of the wrong kind; true when the kind fits.
    fn check_kind(&mut self, value: &Value, field: &Field<'_>) -> bool {
        let fits = match field.spec.kind {
            FieldKind::Any => true,
            FieldKind::String | FieldKind::Duration => value.is_string(),
            FieldKind::Integer => value.is_i64() || value.is_u64(),
            FieldKind::Bool => value.is_boolean(),
            FieldKind::List => value.is_array(),
            FieldKind::Object => value.is_object(),
        };
        if !fits {
            let message = format!(
                "{} must be {}, not {}{}",
                field.name(),
                field.spec.kind.describe(),
                describe_json(value),
                field.from()
            );
            self.field_error("field-type", message, field);
        }
        fits
    }

    /// Checks a scalar (or a rendered value) against the field's kind and value rules.
    fn check_scalar(&mut self, value: &Value, field: &Field<'_>) {
        if !self.check_kind(value, field) {
            return;
        }
        let spec = field.spec;
        match value {
            Value::String(s) if s.is_empty() && spec.required && spec.name_max_len.is_none() => {
                let message = format!("{} is empty{}", field.name(), field.from());
                self.field_error("field-value", message, field);
            }
            Value::String(s) => {
                if !spec.one_of.is_empty() && !spec.one_of.contains(&s.as_str()) {
                    let hint = suggestion(s, spec.one_of.iter().copied());
                    let message = format!(
                        "{} is `{s}`{}, not one of {}{hint}",
                        field.name(),
                        field.from(),
                        join_code(spec.one_of)
                    );
                    self.field_error("field-value", message, field);
                }
                if let Some(max) = spec.name_max_len
                    && !is_cbr_name(s, max)
                {
                    let message = format!(
                        "{} is `{s}`{}; it must be 1 to {max} letters, digits, `_` or `-`",
                        field.name(),
                        field.from()
                    );
                    self.field_error("field-value", message, field);
                }
                if spec.kind == FieldKind::Duration {
                    let problem = match parse_duration(s) {
                        Ok(d) if d.is_zero() => Some("it must be longer than zero".to_owned()),
                        Ok(_) => None,
                        Err(msg) => Some(msg),
                    };
                    if let Some(problem) = problem {
                        let message = format!(
                            "{} is not a duration{}: {problem}",
                            field.name(),
                            field.from()
                        );
                        self.field_error("duration", message, field);
                    }
                }
            }
            Value::Number(n) => {
                if let (Some((min, max)), Some(v)) = (spec.range, n.as_i64())
                    && !(min..=max).contains(&v)
                {
                    let message = format!(
                        "{} is {v}{}; it must be between {min} and {max}",
                        field.name(),
                        field.from()
                    );
                    self.field_error("field-range", message, field);
                }
            }
            _ => {}
        }
    }

    fn field_error(&mut self, code: &'static str, message: String, field: &Field<'_>) {
        self.error(code, message, field.at)
            .with_step(field.step)
            .with_path_mut(format!("with.{}", field.spec.path));
    }

    /// Reports every dependency cycle, naming the whole path.
    fn cycles(&mut self, steps: &[Step]) {
        let position: HashMap<&str, usize> = steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.as_str(), i))
            .collect();
        let edges: Vec<(usize, usize)> = steps
            .iter()
            .enumerate()
            .flat_map(|(i, s)| {
                s.needs
                    .iter()
                    .filter_map(|n| position.get(n.as_str()).map(|&d| (d, i)))
                    .collect::<Vec<_>>()
            })
            .collect();
        for cycle in crate::graph::find_cycles(steps.len(), &edges) {
            let mut names: Vec<&str> = cycle.iter().map(|&i| steps[i].id.as_str()).collect();
            let first = names[0];
            names.push(first);
            let step = &steps[cycle[0]];
            self.error(
                "cycle",
                format!("dependency cycle: {}", names.join(" -> ")),
                step.location,
            )
            .with_step(&step.id)
            .help = Some("remove one of these references or `depends_on` entries".to_owned());
        }
    }
}

/// A `with` field being checked, and where its value comes from.
#[derive(Clone, Copy)]
struct Field<'a> {
    spec: &'a FieldSpec,
    schema: &'a StepSchema,
    step: &'a str,
    at: Location,
    /// The template the value was rendered from, if it was.
    origin: Option<&'a str>,
}

impl Field<'_> {
    /// "step `vault` (create_vault): `billing.size`".
    fn name(&self) -> String {
        format!(
            "step `{}` ({}): `{}`",
            self.step, self.schema.name, self.spec.path
        )
    }

    /// " (from `{{ inputs.size }}`)" for a rendered value.
    fn from(&self) -> String {
        self.origin
            .map_or_else(String::new, |t| format!(" (from `{}`)", t.trim()))
    }
}

/// A JSON value's kind with its value when short, for messages.
fn describe_json(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("the boolean `{b}`"),
        Value::Number(n) => format!("the number `{n}`"),
        Value::String(s) if s.chars().count() <= 40 && !s.contains('\n') => {
            format!("the string `{s}`")
        }
        Value::String(_) => "a string".to_owned(),
        Value::Array(_) => "a list".to_owned(),
        Value::Object(_) => "a mapping".to_owned(),
    }
}

trait DiagnosticExt {
    fn with_step(&mut self, step: &str) -> &mut Self;
    fn with_path_mut(&mut self, path: String) -> &mut Self;
}

impl DiagnosticExt for Diagnostic {
    fn with_step(&mut self, step: &str) -> &mut Self {
        self.step = Some(step.to_owned());
        self
    }

    fn with_path_mut(&mut self, path: String) -> &mut Self {
        self.path = Some(path);
        self
    }
}

/// "`field`", or "`field` of step `step`" for a step's own field.
fn owned_field(field: &str, step: Option<&str>) -> String {
    match step {
        Some(step) => format!("`{field}` of step `{step}`"),
        None => format!("`{field}`"),
    }
}

fn parent_of(path: &str) -> &str {
    match path.rfind('.') {
        Some(i) => &path[..i],
        None => {
            if path.ends_with("[]") {
                path.strip_suffix("[]").unwrap_or("")
            } else {
                ""
            }
        }
    }
}

fn leaf(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

fn join_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

fn display_path(path: &str) -> String {
    path.to_owned()
}

fn join_code(items: &[&str]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn is_identifier(id: &str) -> bool {
    let mut chars = id.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// CBR's naming rule for vaults and restore points.
pub(crate) fn is_cbr_name(s: &str, max: usize) -> bool {
    let len = s.chars().count();
    (1..=max).contains(&len)
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn type_matches(value: &Value, ty: InputType) -> bool {
    match ty {
        InputType::String => value.is_string(),
        InputType::Integer => value.is_i64() || value.is_u64(),
        InputType::Number => value.is_number(),
        InputType::Boolean => value.is_boolean(),
        InputType::List => value.is_array(),
        InputType::Object => value.is_object(),
    }
}

/// Parses a `--var` value according to the input's declared type.
fn parse_var(text: &str, ty: Option<InputType>) -> Result<Value, String> {
    match ty {
        None | Some(InputType::String) => Ok(Value::String(text.to_owned())),
        Some(InputType::Integer) => text
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("`{text}` is not an integer")),
        Some(InputType::Number) => text
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(|n| {
                // Keep integers integral on the wire.
                text.trim()
                    .parse::<i64>()
                    .map_or(Value::Number(n), Value::from)
            })
            .ok_or_else(|| format!("`{text}` is not a number")),
        Some(InputType::Boolean) => match text.trim() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(format!("`{text}` is not `true` or `false`")),
        },
        Some(ty @ (InputType::List | InputType::Object)) => {
            let value: Value =
                serde_json::from_str(text).map_err(|e| format!("the value is not JSON ({e})"))?;
            if type_matches(&value, ty) {
                Ok(value)
            } else {
                Err(format!(
                    "the value is not a JSON {}",
                    if ty == InputType::List {
                        "list"
                    } else {
                        "object"
                    }
                ))
            }
        }
    }
}
