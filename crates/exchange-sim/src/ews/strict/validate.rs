//! Judging an element of a request against its declaration, as .NET's `XmlSchemaValidator`
//! (which Exchange runs on every request) does: in document order, attributes before
//! children, stopping at the first violation, which carries the position of the node and the
//! validator's wording (`Sch_*` texts of System.Xml).

use roxmltree::{Node, NodeType};

use super::content::{Label, Model};
use super::schema::{Content, ElemId, Process, QName, Schema, TypeId, TypeKind, Wildcard, XSI};
use super::simple;

/// The first schema violation in a request: where (a byte offset into the request) and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Violation {
    pub(crate) offset: usize,
    pub(crate) text: String,
}

/// How deep requests may nest before the validator refuses them (Exchange's own limit on
/// nesting is lower than any real request needs; this one keeps the recursion bounded).
const MAX_DEPTH: usize = 64;

pub(crate) struct Validator<'s> {
    pub(crate) schema: &'s Schema,
    pub(crate) src: &'s str,
}

fn qname(node: &Node<'_, '_>) -> QName {
    QName::new(
        node.tag_name().namespace().unwrap_or(""),
        node.tag_name().name(),
    )
}

/// `'Local' in namespace 'ns'` (or `'Local'`), as .NET names an element in content messages.
fn in_namespace(name: &QName) -> String {
    if name.ns.is_empty() {
        format!("'{}'", name.local)
    } else {
        format!("'{}' in namespace '{}'", name.local, name.ns)
    }
}

impl<'s> Validator<'s> {
    /// Offset of an element's name in its start tag (after `<`): .NET's line position.
    fn start_of(node: &Node<'_, '_>) -> usize {
        node.range().start + 1
    }

    fn end_of(&self, node: &Node<'_, '_>) -> usize {
        end_of(self.src, node)
    }

    fn fail<T>(offset: usize, text: String) -> Result<T, Violation> {
        Err(Violation { offset, text })
    }

    /// Validates `node` as an instance of global or local element declaration `decl`.
    pub(crate) fn element(
        &self,
        node: Node<'_, '_>,
        decl: ElemId,
        depth: usize,
    ) -> Result<(), Violation> {
        if depth > MAX_DEPTH {
            return Self::fail(
                Self::start_of(&node),
                "The request nests too deeply.".to_owned(),
            );
        }
        let d = &self.schema.elements[decl];
        if d.is_abstract {
            return Self::fail(
                Self::start_of(&node),
                format!(
                    "The element '{}' is abstract or its type is abstract.",
                    d.name.display()
                ),
            );
        }
        let ty = self.xsi_type(node, d.ty, &d.name)?;
        self.typed(node, ty, depth)
    }

    /// The type to validate against: the declared one, or an `xsi:type` derived from it.
    fn xsi_type(
        &self,
        node: Node<'_, '_>,
        declared: TypeId,
        name: &QName,
    ) -> Result<TypeId, Violation> {
        let Some(attr) = node
            .attributes()
            .find(|a| a.namespace() == Some(XSI) && a.name() == "type")
        else {
            if self.schema.types[declared].is_abstract {
                return Self::fail(
                    Self::start_of(&node),
                    format!(
                        "The element '{}' is abstract or its type is abstract.",
                        name.display()
                    ),
                );
            }
            return Ok(declared);
        };
        let value = attr.value().trim();
        let (prefix, local) = match value.split_once(':') {
            Some((p, l)) => (Some(p), l),
            None => (None, value),
        };
        let ns = node.lookup_namespace_uri(prefix).unwrap_or("");
        let wanted = QName::new(ns, local);
        let found = self.schema.global_types.get(&wanted).copied();
        match found {
            None => Self::fail(
                attr.range_qname().start,
                format!("This is an invalid xsi:type '{}'.", wanted.display()),
            ),
            Some(t) if !self.schema.derives_from(t, declared) => Self::fail(
                attr.range_qname().start,
                format!(
                    "The xsi:type attribute value '{}' is not valid for the element '{}', either because it is not a type validly derived from the type in the schema, or because it has xsi:type derivation blocked.",
                    wanted.display(),
                    name.display()
                ),
            ),
            Some(t) if self.schema.types[t].is_abstract => Self::fail(
                Self::start_of(&node),
                format!(
                    "The element '{}' is abstract or its type is abstract.",
                    name.display()
                ),
            ),
            Some(t) => Ok(t),
        }
    }

    fn typed(&self, node: Node<'_, '_>, ty: TypeId, depth: usize) -> Result<(), Violation> {
        let name = qname(&node);
        match &self.schema.types[ty].kind {
            TypeKind::Pending => Ok(()),
            TypeKind::Simple(_) => {
                self.attributes(node, &[], None)?;
                self.text_only(node, &name)?;
                self.value(node, ty, &name)
            }
            TypeKind::Complex(ct) => {
                self.attributes(node, &ct.attributes, ct.any_attribute.as_ref())?;
                match &ct.content {
                    Content::Simple(st) => {
                        self.text_only(node, &name)?;
                        self.value(node, *st, &name)
                    }
                    Content::Empty => self.empty(node, &name, ct.mixed),
                    Content::Elements(_) => match &self.schema.models[ty] {
                        Some(model) => self.children(node, &name, model, ct.mixed, depth),
                        None => Ok(()),
                    },
                }
            }
        }
    }

    fn attributes(
        &self,
        node: Node<'_, '_>,
        declared: &[super::schema::AttrUse],
        any: Option<&Wildcard>,
    ) -> Result<(), Violation> {
        for attr in node.attributes() {
            let ns = attr.namespace().unwrap_or("");
            if ns == XSI {
                continue;
            }
            let shown = if ns.is_empty() {
                attr.name().to_owned()
            } else {
                format!("{ns}:{}", attr.name())
            };
            let offset = attr.range_qname().start;
            match declared
                .iter()
                .find(|a| a.name.ns == ns && a.name.local == attr.name())
            {
                Some(use_) => {
                    if let Err(reason) = simple::check(self.schema, use_.ty, attr.value()) {
                        return Self::fail(
                            offset,
                            format!(
                                "The '{shown}' attribute is invalid - The value '{}' is invalid according to its datatype '{}' - {reason}",
                                attr.value(),
                                self.schema.type_name(use_.ty)
                            ),
                        );
                    }
                }
                None if any.is_some_and(|w| w.allows(ns)) => {}
                None => {
                    return Self::fail(offset, format!("The '{shown}' attribute is not declared."));
                }
            }
        }
        for use_ in declared.iter().filter(|a| a.required) {
            let present = node.attributes().any(|a| {
                a.namespace().unwrap_or("") == use_.name.ns && a.name() == use_.name.local
            });
            if !present {
                return Self::fail(
                    Self::start_of(&node),
                    format!(
                        "The required attribute '{}' is missing.",
                        use_.name.display()
                    ),
                );
            }
        }
        Ok(())
    }

    /// Simple content: no child elements.
    fn text_only(&self, node: Node<'_, '_>, name: &QName) -> Result<(), Violation> {
        if let Some(child) = node.children().find(Node::is_element) {
            return Self::fail(
                Self::start_of(&child),
                format!(
                    "The element {} cannot contain child element {} because the parent element's content model is text only.",
                    in_namespace(name),
                    in_namespace(&qname(&child))
                ),
            );
        }
        Ok(())
    }

    fn value(&self, node: Node<'_, '_>, ty: TypeId, name: &QName) -> Result<(), Violation> {
        let text: String = node
            .children()
            .filter(|c| c.node_type() == NodeType::Text)
            .filter_map(|c| c.text())
            .collect();
        if let Err(reason) = simple::check(self.schema, ty, &text) {
            return Self::fail(
                self.end_of(&node),
                format!(
                    "The '{}' element is invalid - The value '{text}' is invalid according to its datatype '{}' - {reason}",
                    name.display(),
                    self.schema.type_name(ty)
                ),
            );
        }
        Ok(())
    }

    fn empty(&self, node: Node<'_, '_>, name: &QName, mixed: bool) -> Result<(), Violation> {
        for child in node.children() {
            if child.is_element() {
                return Self::fail(
                    Self::start_of(&child),
                    format!(
                        "The element {} cannot contain child element {} because the parent element's content model is empty.",
                        in_namespace(name),
                        in_namespace(&qname(&child))
                    ),
                );
            }
            if !mixed && is_text(&child) {
                return Self::fail(
                    child.range().start,
                    "The element cannot contain text. Content model is empty.".to_owned(),
                );
            }
        }
        Ok(())
    }

    fn children(
        &self,
        node: Node<'_, '_>,
        name: &QName,
        model: &Model,
        mixed: bool,
        depth: usize,
    ) -> Result<(), Violation> {
        match model {
            Model::Nfa(nfa) => {
                let mut states = nfa.initial();
                for child in node.children() {
                    if !child.is_element() {
                        if !mixed && is_text(&child) {
                            return Self::fail(
                                child.range().start,
                                format!(
                                    "The element {} cannot contain text.{}",
                                    in_namespace(name),
                                    self.expecting(&nfa.expected(&states))
                                ),
                            );
                        }
                        continue;
                    }
                    let child_name = qname(&child);
                    let candidates =
                        nfa.candidates(&states, |l| self.label_matches(l, &child_name));
                    if candidates.is_empty() {
                        return Self::fail(
                            Self::start_of(&child),
                            format!(
                                "The element {} has invalid child element {}.{}",
                                in_namespace(name),
                                in_namespace(&child_name),
                                self.expecting(&nfa.expected(&states))
                            ),
                        );
                    }
                    // Where the model is not deterministic, the child may stand for several
                    // particles: it takes those whose declaration it satisfies.
                    // Each declaration is tried once, however many particles lead to it.
                    let mut taken = Vec::new();
                    let mut first_error = None;
                    let mut tried: Vec<(Option<ElemId>, bool)> = Vec::new();
                    for label in candidates {
                        let target = self.target(label, &child_name);
                        let ok = match tried.iter().find(|(t, _)| *t == target) {
                            Some(&(_, ok)) => ok,
                            None => {
                                let result = self.matched(child, label, &child_name, depth);
                                let ok = result.is_ok();
                                if let Err(e) = result {
                                    first_error.get_or_insert(e);
                                }
                                tried.push((target, ok));
                                ok
                            }
                        };
                        if ok {
                            taken.push(label);
                        }
                    }
                    if taken.is_empty()
                        && let Some(e) = first_error
                    {
                        return Err(e);
                    }
                    states = nfa.step(&states, &taken);
                }
                if !nfa.accepts(&states) {
                    return Self::fail(
                        self.end_of(&node),
                        format!(
                            "The element {} has incomplete content.{}",
                            in_namespace(name),
                            self.expecting(&nfa.expected(&states))
                        ),
                    );
                }
                Ok(())
            }
            Model::All(members) => {
                let mut seen = vec![false; members.len()];
                for child in node.children() {
                    if !child.is_element() {
                        if !mixed && is_text(&child) {
                            return Self::fail(
                                child.range().start,
                                format!("The element {} cannot contain text.", in_namespace(name)),
                            );
                        }
                        continue;
                    }
                    let child_name = qname(&child);
                    let found = members.iter().enumerate().find(|(i, (e, _))| {
                        !seen[*i] && self.schema.elements[*e].name == child_name
                    });
                    let Some((i, (decl, _))) = found else {
                        let open: Vec<Label> = members
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| !seen[*i])
                            .map(|(_, (e, _))| Label::Element(*e))
                            .collect();
                        return Self::fail(
                            Self::start_of(&child),
                            format!(
                                "The element {} has invalid child element {}.{}",
                                in_namespace(name),
                                in_namespace(&child_name),
                                self.expecting(&open.iter().collect::<Vec<_>>())
                            ),
                        );
                    };
                    seen[i] = true;
                    self.element(child, *decl, depth + 1)?;
                }
                let missing: Vec<Label> = members
                    .iter()
                    .enumerate()
                    .filter(|(i, (_, required))| *required && !seen[*i])
                    .map(|(_, (e, _))| Label::Element(*e))
                    .collect();
                if !missing.is_empty() {
                    return Self::fail(
                        self.end_of(&node),
                        format!(
                            "The element {} has incomplete content.{}",
                            in_namespace(name),
                            self.expecting(&missing.iter().collect::<Vec<_>>())
                        ),
                    );
                }
                Ok(())
            }
        }
    }

    /// Whether a child named `name` may take this transition (substitution groups included).
    fn label_matches(&self, label: &Label, name: &QName) -> bool {
        match label {
            Label::Element(e) => self.substitute(*e, name).is_some(),
            Label::Any(w) => w.allows(&name.ns),
        }
    }

    /// The declaration a child named `name` is validated against when it stands where `e` is
    /// expected: `e` itself (unless abstract), or a member of its substitution group.
    fn substitute(&self, e: ElemId, name: &QName) -> Option<ElemId> {
        let decl = &self.schema.elements[e];
        if decl.name == *name && !decl.is_abstract {
            return Some(e);
        }
        self.schema.substitutes.get(&e)?.iter().copied().find(|&m| {
            self.schema.elements[m].name == *name && !self.schema.elements[m].is_abstract
        })
    }

    /// The declaration a child is validated against through this label (`None`: not validated).
    fn target(&self, label: &Label, name: &QName) -> Option<ElemId> {
        match label {
            Label::Element(e) => self.substitute(*e, name),
            Label::Any(w) if w.process == Process::Skip => None,
            Label::Any(_) => self.schema.global_elements.get(name).copied(),
        }
    }

    fn matched(
        &self,
        child: Node<'_, '_>,
        label: &Label,
        name: &QName,
        depth: usize,
    ) -> Result<(), Violation> {
        match label {
            Label::Element(e) => match self.substitute(*e, name) {
                Some(decl) => self.element(child, decl, depth + 1),
                None => Ok(()),
            },
            Label::Any(w) => match (w.process, self.schema.global_elements.get(name)) {
                (Process::Skip, _) => Ok(()),
                (_, Some(&decl)) => self.element(child, decl, depth + 1),
                (Process::Lax, None) => Ok(()),
                (Process::Strict, None) => Self::fail(
                    Self::start_of(&child),
                    format!("The '{}' element is not declared.", name.display()),
                ),
            },
        }
    }

    /// ` List of possible elements expected: ...` in .NET's grouping by namespace.
    fn expecting(&self, labels: &[&Label]) -> String {
        if labels.is_empty() {
            return String::new();
        }
        let mut groups: Vec<(String, Vec<String>)> = Vec::new();
        let mut wildcards: Vec<String> = Vec::new();
        for label in labels {
            match label {
                Label::Element(e) => {
                    let decl = &self.schema.elements[*e];
                    let mut names = vec![*e];
                    if decl.is_abstract {
                        names.clear();
                    }
                    if let Some(members) = self.schema.substitutes.get(e) {
                        names.extend(
                            members
                                .iter()
                                .copied()
                                .filter(|m| !self.schema.elements[*m].is_abstract),
                        );
                    }
                    for n in names {
                        let q = &self.schema.elements[n].name;
                        match groups.iter_mut().find(|(ns, _)| *ns == q.ns) {
                            Some((_, locals)) => {
                                if !locals.contains(&q.local) {
                                    locals.push(q.local.clone());
                                }
                            }
                            None => groups.push((q.ns.clone(), vec![q.local.clone()])),
                        }
                    }
                }
                Label::Any(w) => wildcards.push(w.describe()),
            }
        }
        let mut parts: Vec<String> = groups
            .into_iter()
            .map(|(ns, locals)| {
                if ns.is_empty() {
                    format!("'{}'", locals.join(", "))
                } else {
                    format!("'{}' in namespace '{ns}'", locals.join(", "))
                }
            })
            .collect();
        parts.extend(wildcards);
        format!(
            " List of possible elements expected: {}.",
            parts.join(" as well as ")
        )
    }
}

/// Offset of an element's name in its end tag (after `</`), or of the start tag's name for
/// an empty-element tag: where .NET stands when it judges content and values. Always just
/// after an ASCII character, so a character boundary.
pub(crate) fn end_of(src: &str, node: &Node<'_, '_>) -> usize {
    let range = node.range();
    let text = src.get(range.clone()).unwrap_or("");
    if text.ends_with("/>") {
        return range.start + 1;
    }
    text.rfind("</")
        .map_or(range.start + 1, |at| range.start + at + 2)
}

fn is_text(node: &Node<'_, '_>) -> bool {
    node.node_type() == NodeType::Text && node.text().is_some_and(|t| !t.trim().is_empty())
}
