//! `schemas/plan.schema.json` is generated from the plan model and the step catalog; the
//! committed file must be the one the code generates.

use cbrflow::steps::Registry;

use crate::util::repo;

const REFRESH: &str = "CBRFLOW_BLESS=1 cargo test --test main validate::schema";

/// The schema as the code generates it, as committed (pretty JSON and a final newline).
pub fn generated() -> String {
    let schema = cbrflow::plan::json_schema(&Registry::builtin());
    format!(
        "{}\n",
        serde_json::to_string_pretty(&schema).expect("schema is JSON")
    )
}

#[test]
fn committed_schema_is_current() {
    let path = repo().join("schemas/plan.schema.json");
    let generated = generated();
    if std::env::var_os("CBRFLOW_BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).expect("mkdir schemas");
        std::fs::write(&path, &generated).expect("write schema");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "schemas/plan.schema.json is stale: the plan model or a step type's fields changed.\n\
         Refresh it with `{REFRESH}` and commit it."
    );
}

#[test]
fn schema_describes_the_plan_format() {
    let schema: serde_json::Value = serde_json::from_str(&generated()).unwrap();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(schema["additionalProperties"], false);
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(required, ["version", "name", "steps"]);
    let types = &schema["$defs"]["StepDecl"]["properties"]["type"]["enum"];
    assert_eq!(
        types,
        &serde_json::json!([
            "create_vault",
            "add_resources",
            "create_checkpoint",
            "await_checkpoint"
        ])
    );
}
