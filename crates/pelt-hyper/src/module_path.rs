//! Dotted module paths, the names under which parameters are saved, loaded and matched
//! (`hyper.task_embedding`, `t5.encoder.blocks.0.self_norm.weight`). Every visitor of a
//! [`PeltModel`](crate::PeltModel) names parameters through [`ModulePath`], so the names are
//! the same everywhere (docs/design.md, "Tuners as types").

/// The path of the parameter a Burn visitor or mapper is at, built from its
/// `enter_module`/`exit_module` calls.
///
/// Field names are joined by `.`. An enum's variant stands, in lowercase, in place of the
/// field that holds the enum: `PeltModel::tuner` holding `Tuner::Hyper` is `hyper`, so a
/// hypernetwork's tensors keep the names they have always had in saved files.
#[derive(Debug, Clone, Default)]
pub struct ModulePath {
    /// `(name, container type)` of each module entered.
    entered: Vec<(String, String)>,
}

impl ModulePath {
    /// Enters field or variant `name` of a module of `container_type` (`Struct:T5Block`,
    /// `Enum:Tuner`), as Burn's `enter_module` reports it.
    pub fn enter(&mut self, name: &str, container_type: &str) {
        self.entered
            .push((name.to_string(), container_type.to_string()));
    }

    /// Leaves the innermost module.
    pub fn exit(&mut self) {
        self.entered.pop();
    }

    /// The dotted path (`hyper.projector.hidden.weight`).
    pub fn path(&self) -> String {
        let mut parts: Vec<String> = Vec::with_capacity(self.entered.len());
        for (name, container) in &self.entered {
            if container.starts_with("Enum:") {
                // The variant names the enum's contents in place of the field holding it.
                parts.pop();
                parts.push(name.to_lowercase());
            } else {
                parts.push(name.clone());
            }
        }
        parts.join(".")
    }

    /// The type of the module that holds the parameter (`Struct:T5LayerNorm`), as Burn's
    /// derive names it; empty at the top.
    pub fn owner(&self) -> &str {
        self.entered.last().map_or("", |(_, c)| c.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_stand_in_for_their_field_in_lowercase() {
        let mut p = ModulePath::default();
        p.enter("tuner", "Struct:PeltModel");
        p.enter("Hyper", "Enum:Tuner");
        p.enter("task_embedding", "Struct:HyperNetwork");
        assert_eq!(p.path(), "hyper.task_embedding");
        assert_eq!(p.owner(), "Struct:HyperNetwork");
        p.exit();
        p.exit();
        p.enter("Plain", "Enum:Tuner");
        assert_eq!(p.path(), "plain");
        p.exit();
        p.exit();
        p.enter("t5", "Struct:PeltModel");
        assert_eq!(p.path(), "t5");
        p.exit();
        assert_eq!(p.path(), "");
        assert_eq!(p.owner(), "");
    }
}
