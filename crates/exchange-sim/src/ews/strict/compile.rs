//! The schema compiler: reads XSD documents with roxmltree and fills the model of
//! [`super::schema`]. Two passes: every top-level declaration gets its id first, so references
//! resolve in any order; then each type is compiled, its base before it (an extension needs its
//! base's content and attributes).

use std::collections::HashMap;

use roxmltree::{Document, Node};

use super::content::Model;
use super::schema::{
    AttrUse, ComplexType, Content, ElemId, ElementDecl, Namespaces, Particle, Process, QName,
    Schema, SimpleType, Term, Type, TypeId, TypeKind, Variety, Wildcard, XML_NS, XS,
};
use super::simple::{Builtin, Facets};

/// Compiles schema documents; an error names what the compiler does not understand.
pub(crate) fn compile(sources: &[&str]) -> Result<Schema, String> {
    let docs = sources
        .iter()
        .map(|s| Document::parse(s.trim_start_matches('\u{feff}')).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut c = Compiler::new();
    for doc in &docs {
        c.register(doc.root_element())?;
    }
    for id in 0..c.schema.types.len() {
        c.ensure(id)?;
    }
    c.resolve_global_elements()?;
    c.substitution_groups()?;
    let mut schema = c.schema;
    schema.models = schema
        .types
        .iter()
        .map(|t| match &t.kind {
            TypeKind::Complex(ComplexType {
                content: Content::Elements(p),
                ..
            }) => Some(Model::build(p)),
            _ => None,
        })
        .collect();
    Ok(schema)
}

struct Compiler<'a, 'i> {
    schema: Schema,
    /// Named or anonymous types waiting to be compiled, with their document's target namespace.
    type_nodes: HashMap<TypeId, (Node<'a, 'i>, String)>,
    element_nodes: Vec<(ElemId, Node<'a, 'i>, String)>,
    groups: HashMap<QName, (Node<'a, 'i>, String)>,
    attribute_groups: HashMap<QName, (Node<'a, 'i>, String)>,
    in_progress: Vec<TypeId>,
}

fn is_xs(node: &Node<'_, '_>, local: &str) -> bool {
    node.is_element() && node.tag_name().namespace() == Some(XS) && node.tag_name().name() == local
}

/// The schema children of a node, without annotations.
fn xs_children<'a, 'i>(node: Node<'a, 'i>) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children()
        .filter(|n| n.is_element() && !is_xs(n, "annotation"))
}

fn occurs(node: &Node<'_, '_>) -> Result<(u32, Option<u32>), String> {
    let min = match node.attribute("minOccurs") {
        Some(v) => v.trim().parse().map_err(|_| format!("minOccurs {v:?}"))?,
        None => 1,
    };
    let max = match node.attribute("maxOccurs").map(str::trim) {
        Some("unbounded") => None,
        Some(v) => Some(v.parse().map_err(|_| format!("maxOccurs {v:?}"))?),
        None => Some(1),
    };
    Ok((min, max))
}

impl<'a, 'i> Compiler<'a, 'i> {
    fn new() -> Self {
        let mut schema = Schema {
            types: Vec::new(),
            elements: Vec::new(),
            global_elements: HashMap::new(),
            global_types: HashMap::new(),
            substitutes: HashMap::new(),
            models: Vec::new(),
        };
        for builtin in Builtin::ALL {
            let id = schema.types.len();
            let name = QName::new(XS, builtin.name());
            schema.types.push(Type {
                name: Some(name.clone()),
                base: None,
                is_abstract: false,
                kind: TypeKind::Simple(SimpleType {
                    variety: Variety::Builtin(*builtin),
                    facets: Facets::default(),
                }),
            });
            schema.global_types.insert(name, id);
        }
        // xs:anyType: anything, attributes included.
        let any = schema.types.len();
        schema.types.push(Type {
            name: Some(QName::new(XS, "anyType")),
            base: None,
            is_abstract: false,
            kind: TypeKind::Complex(ComplexType {
                attributes: Vec::new(),
                any_attribute: Some(Wildcard {
                    namespaces: Namespaces::Any,
                    process: Process::Lax,
                    target: String::new(),
                }),
                content: Content::Elements(Particle {
                    min: 0,
                    max: None,
                    term: Term::Any(Wildcard {
                        namespaces: Namespaces::Any,
                        process: Process::Lax,
                        target: String::new(),
                    }),
                }),
                mixed: true,
            }),
        });
        schema.global_types.insert(QName::new(XS, "anyType"), any);
        Self {
            schema,
            type_nodes: HashMap::new(),
            element_nodes: Vec::new(),
            groups: HashMap::new(),
            attribute_groups: HashMap::new(),
            in_progress: Vec::new(),
        }
    }

    fn any_type(&self) -> TypeId {
        self.schema.global_types[&QName::new(XS, "anyType")]
    }

    fn string_type(&self) -> TypeId {
        self.schema.global_types[&QName::new(XS, "string")]
    }

    /// First pass: every top-level declaration gets its id, so references resolve in any order.
    fn register(&mut self, root: Node<'a, 'i>) -> Result<(), String> {
        let target = root.attribute("targetNamespace").unwrap_or("").to_owned();
        for node in xs_children(root) {
            let Some(name) = node.attribute("name") else {
                continue;
            };
            let qname = QName::new(&target, name);
            match node.tag_name().name() {
                "complexType" | "simpleType" => {
                    let id = self.push_pending(Some(qname.clone()));
                    self.type_nodes.insert(id, (node, target.clone()));
                    self.schema.global_types.insert(qname, id);
                }
                "element" => {
                    let id = self.schema.elements.len();
                    self.schema.elements.push(ElementDecl {
                        name: qname.clone(),
                        ty: usize::MAX,
                        is_abstract: node.attribute("abstract") == Some("true"),
                    });
                    self.schema.global_elements.insert(qname, id);
                    self.element_nodes.push((id, node, target.clone()));
                }
                "group" => {
                    self.groups.insert(qname, (node, target.clone()));
                }
                "attributeGroup" => {
                    self.attribute_groups.insert(qname, (node, target.clone()));
                }
                other => return Err(format!("top-level xs:{other} is not supported")),
            }
        }
        Ok(())
    }

    fn push_pending(&mut self, name: Option<QName>) -> TypeId {
        self.schema.types.push(Type {
            name,
            base: None,
            is_abstract: false,
            kind: TypeKind::Pending,
        });
        self.schema.types.len() - 1
    }

    /// A QName in an attribute value (`t:Foo`), resolved in the node's scope.
    fn qname(&self, node: &Node<'_, '_>, value: &str) -> Result<QName, String> {
        let (prefix, local) = match value.split_once(':') {
            Some((p, l)) => (Some(p), l),
            None => (None, value),
        };
        let ns = match prefix {
            Some("xml") => XML_NS,
            _ => node
                .lookup_namespace_uri(prefix)
                .ok_or_else(|| format!("unbound prefix in {value:?}"))?,
        };
        Ok(QName::new(ns, local))
    }

    fn type_ref(&self, node: &Node<'_, '_>, value: &str) -> Result<TypeId, String> {
        let name = self.qname(node, value)?;
        self.schema
            .global_types
            .get(&name)
            .copied()
            .ok_or_else(|| format!("unknown type {}", name.display()))
    }

    /// Compiles a pending type (and, first, its base).
    fn ensure(&mut self, id: TypeId) -> Result<(), String> {
        if !matches!(self.schema.types[id].kind, TypeKind::Pending) {
            return Ok(());
        }
        if self.in_progress.contains(&id) {
            return Err(format!("circular derivation at type {id}"));
        }
        let Some((node, target)) = self.type_nodes.get(&id).cloned() else {
            return Err(format!("type {id} has no declaration"));
        };
        self.in_progress.push(id);
        let result = if is_xs(&node, "complexType") {
            self.complex_type(id, node, &target)
        } else {
            self.simple_type(id, node, &target)
        };
        self.in_progress.pop();
        result
    }

    /// An anonymous type declared at `node`, compiled now.
    fn anonymous(&mut self, node: Node<'a, 'i>, target: &str) -> Result<TypeId, String> {
        let id = self.push_pending(None);
        self.type_nodes.insert(id, (node, target.to_owned()));
        self.ensure(id)?;
        Ok(id)
    }

    fn simple_type(&mut self, id: TypeId, node: Node<'a, 'i>, target: &str) -> Result<(), String> {
        let Some(def) = xs_children(node).next() else {
            return Err("empty xs:simpleType".to_owned());
        };
        let (variety, facets, base) = match def.tag_name().name() {
            "restriction" => {
                let base = match def.attribute("base") {
                    Some(b) => self.type_ref(&def, b)?,
                    None => match xs_children(def).find(|n| is_xs(n, "simpleType")) {
                        Some(inner) => self.anonymous(inner, target)?,
                        None => return Err("xs:restriction without a base".to_owned()),
                    },
                };
                self.ensure(base)?;
                let facets = Facets::read(def)?;
                (Variety::Restriction(base), facets, Some(base))
            }
            "list" => {
                let item = match def.attribute("itemType") {
                    Some(t) => self.type_ref(&def, t)?,
                    None => match xs_children(def).find(|n| is_xs(n, "simpleType")) {
                        Some(inner) => self.anonymous(inner, target)?,
                        None => return Err("xs:list without an item type".to_owned()),
                    },
                };
                (Variety::List(item), Facets::default(), None)
            }
            "union" => {
                let mut members = Vec::new();
                for name in def
                    .attribute("memberTypes")
                    .unwrap_or("")
                    .split_whitespace()
                {
                    members.push(self.type_ref(&def, name)?);
                }
                for inner in xs_children(def).filter(|n| is_xs(n, "simpleType")) {
                    members.push(self.anonymous(inner, target)?);
                }
                for &m in &members {
                    self.ensure(m)?;
                }
                (Variety::Union(members), Facets::default(), None)
            }
            other => return Err(format!("xs:simpleType/xs:{other} is not supported")),
        };
        let ty = &mut self.schema.types[id];
        ty.base = base;
        ty.kind = TypeKind::Simple(SimpleType { variety, facets });
        Ok(())
    }

    fn complex_type(&mut self, id: TypeId, node: Node<'a, 'i>, target: &str) -> Result<(), String> {
        let is_abstract = node.attribute("abstract") == Some("true");
        let mut mixed = node.attribute("mixed") == Some("true");
        let mut attributes = Vec::new();
        let mut any_attribute = None;
        let mut base = None;
        let content;
        let first = xs_children(node).next();
        match first {
            Some(sc) if is_xs(&sc, "simpleContent") => {
                let Some(der) = xs_children(sc).next() else {
                    return Err("empty xs:simpleContent".to_owned());
                };
                let b = self.type_ref(&der, der.attribute("base").unwrap_or(""))?;
                self.ensure(b)?;
                base = Some(b);
                let simple = match &self.schema.types[b].kind {
                    TypeKind::Simple(_) => b,
                    TypeKind::Complex(ComplexType {
                        content: Content::Simple(s),
                        attributes: inherited,
                        any_attribute: any,
                        ..
                    }) => {
                        attributes.extend(inherited.iter().cloned());
                        any_attribute.clone_from(any);
                        *s
                    }
                    _ => return Err("xs:simpleContent on a base without simple content".to_owned()),
                };
                let simple = if is_xs(&der, "restriction") {
                    let facets = Facets::read(der)?;
                    let r = self.push_pending(None);
                    let t = &mut self.schema.types[r];
                    t.base = Some(simple);
                    t.kind = TypeKind::Simple(SimpleType {
                        variety: Variety::Restriction(simple),
                        facets,
                    });
                    r
                } else {
                    simple
                };
                self.attributes(der, target, &mut attributes, &mut any_attribute)?;
                content = Content::Simple(simple);
            }
            Some(cc) if is_xs(&cc, "complexContent") => {
                if let Some(m) = cc.attribute("mixed") {
                    mixed = m == "true";
                }
                let Some(der) = xs_children(cc).next() else {
                    return Err("empty xs:complexContent".to_owned());
                };
                let b = self.type_ref(&der, der.attribute("base").unwrap_or(""))?;
                self.ensure(b)?;
                base = Some(b);
                let own = self.model_particle(der, target)?;
                let (inherited, inherited_any, base_particle) = match &self.schema.types[b].kind {
                    TypeKind::Complex(c) => (
                        c.attributes.clone(),
                        c.any_attribute.clone(),
                        match &c.content {
                            Content::Elements(p) => Some(p.clone()),
                            _ => None,
                        },
                    ),
                    _ => return Err("xs:complexContent on a simple base".to_owned()),
                };
                attributes = inherited;
                any_attribute = inherited_any;
                let mut own_attributes = Vec::new();
                let mut own_any = None;
                self.attributes(der, target, &mut own_attributes, &mut own_any)?;
                let prohibited = prohibited_attributes(der);
                attributes.retain(|a| {
                    !own_attributes.iter().any(|o| o.name == a.name)
                        && !prohibited.contains(&a.name.local)
                });
                attributes.extend(own_attributes);
                if own_any.is_some() {
                    any_attribute = own_any;
                }
                let particle = if is_xs(&der, "extension") {
                    match (base_particle, own) {
                        (Some(b), Some(o)) => Some(Particle {
                            min: 1,
                            max: Some(1),
                            term: Term::Sequence(vec![b, o]),
                        }),
                        (b, o) => b.or(o),
                    }
                } else {
                    own
                };
                content = particle.map_or(Content::Empty, Content::Elements);
            }
            _ => {
                let particle = self.model_particle(node, target)?;
                self.attributes(node, target, &mut attributes, &mut any_attribute)?;
                content = particle.map_or(Content::Empty, Content::Elements);
            }
        }
        let ty = &mut self.schema.types[id];
        ty.base = base;
        ty.is_abstract = is_abstract;
        ty.kind = TypeKind::Complex(ComplexType {
            attributes,
            any_attribute,
            content,
            mixed,
        });
        Ok(())
    }

    /// The content particle among `node`'s children (sequence, choice, all, group), if any.
    fn model_particle(
        &mut self,
        node: Node<'a, 'i>,
        target: &str,
    ) -> Result<Option<Particle>, String> {
        match xs_children(node).find(|n| {
            ["sequence", "choice", "all", "group"]
                .iter()
                .any(|k| is_xs(n, k))
        }) {
            Some(p) => self.particle(p, target).map(Some),
            None => Ok(None),
        }
    }

    fn particle(&mut self, node: Node<'a, 'i>, target: &str) -> Result<Particle, String> {
        let (min, max) = occurs(&node)?;
        let term = match node.tag_name().name() {
            "element" => Term::Element(self.local_element(node, target)?),
            "any" => Term::Any(wildcard(&node, target)),
            "sequence" | "choice" | "all" => {
                let mut parts = Vec::new();
                for child in xs_children(node) {
                    parts.push(self.particle(child, target)?);
                }
                match node.tag_name().name() {
                    "sequence" => Term::Sequence(parts),
                    "choice" => Term::Choice(parts),
                    _ => Term::All(parts),
                }
            }
            "group" => {
                let name = self.qname(&node, node.attribute("ref").unwrap_or(""))?;
                let (def, def_target) = self
                    .groups
                    .get(&name)
                    .cloned()
                    .ok_or_else(|| format!("unknown group {}", name.display()))?;
                let Some(inner) = xs_children(def).next() else {
                    return Err(format!("empty group {}", name.display()));
                };
                let p = self.particle(inner, &def_target)?;
                // The reference's bounds apply to the group's model as a whole.
                Term::Sequence(vec![p])
            }
            other => return Err(format!("xs:{other} as a particle is not supported")),
        };
        Ok(Particle { min, max, term })
    }

    /// An element in a content model: a reference to a global element or a local declaration.
    fn local_element(&mut self, node: Node<'a, 'i>, target: &str) -> Result<ElemId, String> {
        if let Some(r) = node.attribute("ref") {
            let name = self.qname(&node, r)?;
            return self
                .schema
                .global_elements
                .get(&name)
                .copied()
                .ok_or_else(|| format!("unknown element {}", name.display()));
        }
        let local = node
            .attribute("name")
            .ok_or("xs:element without a name or ref")?;
        // Both schema documents say elementFormDefault="qualified".
        let ns = match node.attribute("form") {
            Some("unqualified") => "",
            _ => target,
        };
        let ty = self.element_type(node, target)?;
        self.schema.elements.push(ElementDecl {
            name: QName::new(ns, local),
            ty,
            is_abstract: node.attribute("abstract") == Some("true"),
        });
        Ok(self.schema.elements.len() - 1)
    }

    fn element_type(&mut self, node: Node<'a, 'i>, target: &str) -> Result<TypeId, String> {
        if let Some(t) = node.attribute("type") {
            return self.type_ref(&node, t);
        }
        match xs_children(node).find(|n| is_xs(n, "complexType") || is_xs(n, "simpleType")) {
            Some(inline) => self.anonymous(inline, target),
            None => Ok(self.any_type()),
        }
    }

    fn resolve_global_elements(&mut self) -> Result<(), String> {
        for (id, node, target) in self.element_nodes.clone() {
            let ty = self.element_type(node, &target)?;
            self.schema.elements[id].ty = ty;
        }
        for id in 0..self.schema.types.len() {
            self.ensure(id)?;
        }
        Ok(())
    }

    fn substitution_groups(&mut self) -> Result<(), String> {
        let mut heads: Vec<(ElemId, ElemId)> = Vec::new();
        for (name, &id) in &self.schema.global_elements {
            let Some((_, node, _)) = self.element_node(id) else {
                continue;
            };
            if let Some(head) = node.attribute("substitutionGroup") {
                let head = self.qname(&node, head)?;
                let head = *self
                    .schema
                    .global_elements
                    .get(&head)
                    .ok_or_else(|| format!("{}: unknown substitution group", name.display()))?;
                heads.push((head, id));
            }
        }
        // Transitive: a member of a member's group stands in for the head too.
        for &(head, _) in &heads {
            let mut members = Vec::new();
            let mut queue = vec![head];
            while let Some(h) = queue.pop() {
                for &(hh, m) in &heads {
                    if hh == h && !members.contains(&m) {
                        members.push(m);
                        queue.push(m);
                    }
                }
            }
            members.sort_unstable();
            self.schema.substitutes.insert(head, members);
        }
        Ok(())
    }

    fn element_node(&self, id: ElemId) -> Option<(ElemId, Node<'a, 'i>, String)> {
        self.element_nodes
            .iter()
            .find(|(e, _, _)| *e == id)
            .cloned()
    }

    fn attributes(
        &mut self,
        node: Node<'a, 'i>,
        target: &str,
        out: &mut Vec<AttrUse>,
        any: &mut Option<Wildcard>,
    ) -> Result<(), String> {
        for child in xs_children(node) {
            match child.tag_name().name() {
                "attribute" => {
                    if child.attribute("use") == Some("prohibited") {
                        continue;
                    }
                    let required = child.attribute("use") == Some("required");
                    let (name, ty) = if let Some(r) = child.attribute("ref") {
                        let name = self.qname(&child, r)?;
                        if name.ns != XML_NS {
                            return Err(format!(
                                "attribute ref {} is not supported",
                                name.display()
                            ));
                        }
                        let lang = self.schema.global_types[&QName::new(XS, "language")];
                        (name, lang)
                    } else {
                        let name = QName::new("", child.attribute("name").unwrap_or(""));
                        let ty = match child.attribute("type") {
                            Some(t) => self.type_ref(&child, t)?,
                            None => match xs_children(child).find(|n| is_xs(n, "simpleType")) {
                                Some(inner) => self.anonymous(inner, target)?,
                                None => self.string_type(),
                            },
                        };
                        (name, ty)
                    };
                    out.retain(|a| a.name != name);
                    out.push(AttrUse { name, ty, required });
                }
                "attributeGroup" => {
                    let name = self.qname(&child, child.attribute("ref").unwrap_or(""))?;
                    let (def, def_target) = self
                        .attribute_groups
                        .get(&name)
                        .cloned()
                        .ok_or_else(|| format!("unknown attribute group {}", name.display()))?;
                    self.attributes(def, &def_target, out, any)?;
                }
                "anyAttribute" => *any = Some(wildcard(&child, target)),
                _ => {}
            }
        }
        Ok(())
    }
}

/// Local names of attributes a restriction prohibits.
fn prohibited_attributes(node: Node<'_, '_>) -> Vec<String> {
    xs_children(node)
        .filter(|n| is_xs(n, "attribute") && n.attribute("use") == Some("prohibited"))
        .filter_map(|n| n.attribute("name").map(str::to_owned))
        .collect()
}

fn wildcard(node: &Node<'_, '_>, target: &str) -> Wildcard {
    let namespaces = match node.attribute("namespace").map(str::trim) {
        None | Some("##any") => Namespaces::Any,
        Some("##other") => Namespaces::Other,
        Some(list) => Namespaces::List(
            list.split_whitespace()
                .map(|n| match n {
                    "##targetNamespace" => target.to_owned(),
                    "##local" => String::new(),
                    other => other.to_owned(),
                })
                .collect(),
        ),
    };
    let process = match node.attribute("processContents") {
        Some("lax") => Process::Lax,
        Some("skip") => Process::Skip,
        _ => Process::Strict,
    };
    Wildcard {
        namespaces,
        process,
        target: target.to_owned(),
    }
}
