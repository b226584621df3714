//! The simulator's model of Microsoft's EWS schema (`schema/messages.xsd`, `schema/types.xsd`),
//! which [`super::compile`] fills from the XSD: global elements, named and anonymous types,
//! content models as particle trees (turned into automata by [`super::content`]), attributes
//! and simple types with their facets.
//!
//! The compiler knows the XSD 1.0 constructs these two files use (see the schema's README):
//! `complexType` with `sequence` / `choice` / `all` / `group` references, `element` references
//! and substitution groups, `any`, `complexContent` extension (the base's content, then the
//! extension's) and restriction, `simpleContent`, `attribute` / `attributeGroup` /
//! `anyAttribute`, and `simpleType` restriction / list / union. Built-in types are in
//! [`super::simple`]. XML Schema: <https://www.w3.org/TR/xmlschema-1/>.

use std::collections::HashMap;

use super::content::Model;
use super::simple::{Builtin, Facets};

/// The XML Schema namespace.
pub(crate) const XS: &str = "http://www.w3.org/2001/XMLSchema";
/// The XML Schema instance namespace (`xsi:type`, `xsi:nil`).
pub(crate) const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// The `xml:` namespace (`xml:lang`), which `types.xsd` imports without a location.
pub(crate) const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

pub(crate) type TypeId = usize;
pub(crate) type ElemId = usize;

/// A namespace-qualified name; `ns` is empty for no namespace.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct QName {
    pub(crate) ns: String,
    pub(crate) local: String,
}

impl QName {
    pub(crate) fn new(ns: &str, local: &str) -> Self {
        Self {
            ns: ns.to_owned(),
            local: local.to_owned(),
        }
    }

    /// `namespace:local`, as .NET's `XmlQualifiedName` prints it in violations.
    pub(crate) fn display(&self) -> String {
        if self.ns.is_empty() {
            self.local.clone()
        } else {
            format!("{}:{}", self.ns, self.local)
        }
    }
}

/// The compiled schema.
pub(crate) struct Schema {
    pub(crate) types: Vec<Type>,
    pub(crate) elements: Vec<ElementDecl>,
    pub(crate) global_elements: HashMap<QName, ElemId>,
    pub(crate) global_types: HashMap<QName, TypeId>,
    /// Substitution-group head -> every element that may stand in its place (transitively).
    pub(crate) substitutes: HashMap<ElemId, Vec<ElemId>>,
    /// Content automata, by type (`None` for simple or empty content).
    pub(crate) models: Vec<Option<Model>>,
}

pub(crate) struct Type {
    /// The name, or the nearest named base's for an anonymous type (for messages).
    pub(crate) name: Option<QName>,
    pub(crate) base: Option<TypeId>,
    pub(crate) is_abstract: bool,
    pub(crate) kind: TypeKind,
}

pub(crate) enum TypeKind {
    Pending,
    Simple(SimpleType),
    Complex(ComplexType),
}

pub(crate) struct SimpleType {
    pub(crate) variety: Variety,
    pub(crate) facets: Facets,
}

pub(crate) enum Variety {
    Builtin(Builtin),
    /// A restriction of this base, with this type's facets.
    Restriction(TypeId),
    List(TypeId),
    Union(Vec<TypeId>),
}

pub(crate) struct ComplexType {
    pub(crate) attributes: Vec<AttrUse>,
    pub(crate) any_attribute: Option<Wildcard>,
    pub(crate) content: Content,
    pub(crate) mixed: bool,
}

pub(crate) enum Content {
    Empty,
    /// Text of this simple type.
    Simple(TypeId),
    Elements(Particle),
}

#[derive(Clone, Debug)]
pub(crate) struct AttrUse {
    pub(crate) name: QName,
    pub(crate) ty: TypeId,
    pub(crate) required: bool,
}

pub(crate) struct ElementDecl {
    pub(crate) name: QName,
    pub(crate) ty: TypeId,
    pub(crate) is_abstract: bool,
}

/// `xs:any` / `xs:anyAttribute`.
#[derive(Clone, Debug)]
pub(crate) struct Wildcard {
    pub(crate) namespaces: Namespaces,
    pub(crate) process: Process,
    /// The target namespace of the schema document that declares it (for `##other`).
    pub(crate) target: String,
}

#[derive(Clone, Debug)]
pub(crate) enum Namespaces {
    Any,
    Other,
    /// Namespace names; `""` is `##local`.
    List(Vec<String>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Process {
    Strict,
    Lax,
    Skip,
}

impl Wildcard {
    pub(crate) fn allows(&self, ns: &str) -> bool {
        match &self.namespaces {
            Namespaces::Any => true,
            Namespaces::Other => !ns.is_empty() && ns != self.target,
            Namespaces::List(list) => list.iter().any(|n| n == ns),
        }
    }

    /// How .NET names the wildcard in a list of expected elements.
    pub(crate) fn describe(&self) -> String {
        match &self.namespaces {
            Namespaces::Any => "any element in any namespace".to_owned(),
            Namespaces::Other => format!("any element in namespace '##other:{}'", self.target),
            Namespaces::List(list) => format!("any element in namespace '{}'", list.join(" ")),
        }
    }
}

/// A particle: a term with its occurrence bounds (`max: None` is `unbounded`).
#[derive(Clone, Debug)]
pub(crate) struct Particle {
    pub(crate) min: u32,
    pub(crate) max: Option<u32>,
    pub(crate) term: Term,
}

#[derive(Clone, Debug)]
pub(crate) enum Term {
    Element(ElemId),
    Any(Wildcard),
    Sequence(Vec<Particle>),
    Choice(Vec<Particle>),
    All(Vec<Particle>),
}

impl Schema {
    /// Compiles schema documents; an error names what the compiler does not understand.
    pub(crate) fn compile(sources: &[&str]) -> Result<Self, String> {
        super::compile::compile(sources)
    }

    /// Whether `ty` is `ancestor` or derived from it.
    pub(crate) fn derives_from(&self, mut ty: TypeId, ancestor: TypeId) -> bool {
        for _ in 0..64 {
            if ty == ancestor {
                return true;
            }
            match self.types[ty].base {
                Some(base) if base != ty => ty = base,
                _ => return false,
            }
        }
        false
    }

    /// The type's name for messages (the nearest named base for an anonymous type).
    pub(crate) fn type_name(&self, mut ty: TypeId) -> String {
        for _ in 0..64 {
            if let Some(name) = &self.types[ty].name {
                return name.display();
            }
            match self.types[ty].base {
                Some(base) => ty = base,
                None => break,
            }
        }
        "anonymous".to_owned()
    }
}
