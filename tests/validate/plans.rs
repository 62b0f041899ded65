//! Every plan in `plans/` is valid: it names the schema for editors, conforms to the schema,
//! and passes `cbrflow validate`.

use serde_json::Value;

use super::{cbrflow_on, relative, yaml_files};

const SCHEMA_LINE: &str = "# yaml-language-server: $schema=../schemas/plan.schema.json";

fn validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(&super::schema::generated()).expect("schema JSON");
    jsonschema::validator_for(&schema).expect("a valid JSON Schema")
}

/// The plan as JSON, the way an editor's YAML language server sees it.
fn as_json(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path).expect("read plan");
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn schema_errors(validator: &jsonschema::Validator, plan: &Value) -> Vec<String> {
    validator
        .iter_errors(plan)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[tokio::test]
async fn every_plan_validates() {
    let plans = yaml_files("plans");
    assert!(plans.len() >= 2, "{plans:?}");
    for path in plans {
        let plan = relative(&path);
        let out = cbrflow_on(&plan, &["validate"]).await;
        out.assert_code(0);
        assert!(
            out.stdout.starts_with(&format!("{plan}: valid")),
            "{}",
            out.stdout
        );
        let out = cbrflow_on(&plan, &["validate", "--output", "json"]).await;
        out.assert_code(0);
        assert_eq!(out.json(), serde_json::json!([]));
    }
}

#[test]
fn every_plan_names_the_schema_on_its_first_line() {
    for path in yaml_files("plans") {
        let text = std::fs::read_to_string(&path).expect("read plan");
        assert_eq!(text.lines().next(), Some(SCHEMA_LINE), "{}", path.display());
    }
}

#[test]
fn every_plan_conforms_to_the_schema() {
    let validator = validator();
    for path in yaml_files("plans") {
        let errors = schema_errors(&validator, &as_json(&path));
        assert!(
            errors.is_empty(),
            "{}:\n{}",
            path.display(),
            errors.join("\n")
        );
    }
}

#[test]
fn the_schema_rejects_what_validate_rejects_statically() {
    // Mistakes a schema can see; templates, references and cycles are validate's alone.
    let validator = validator();
    for name in [
        "unknown-field-top-level",
        "unknown-field-step",
        "unknown-field-with",
        "unknown-field-retry",
        "unknown-step-type",
        "wrong-type-version",
        "wrong-type-depends-on",
        "wrong-type-with-field",
        "missing-with-field",
        "missing-step-type",
        "enum-object-type",
        "enum-resource-type",
        "range-vault-size",
        "name-pattern-vault",
        "retry-max-attempts-zero",
        "duration-unparseable",
        "no-steps",
    ] {
        let path = crate::util::repo().join(format!("tests/plans/invalid/{name}.yaml"));
        let errors = schema_errors(&validator, &as_json(&path));
        assert!(!errors.is_empty(), "the schema accepts {name}.yaml");
    }
}
