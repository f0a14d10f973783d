// A minimal, namespace-agnostic XML reader for the small documents object stores answer with
// (S3 ListObjectsV2 and errors, Azure List Blobs). Element names lose their prefix; attributes
// are skipped; entities and character references are decoded. Anything malformed, too deep
// or not XML at all (an HTML error page) throws std::runtime_error. Value type.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace lifeboat::storage::xml {

struct Element {
  std::string name;
  std::string text;  // concatenated character data directly inside this element
  std::vector<std::unique_ptr<Element>> children;
  // The first child with this name, or nullptr.
  const Element* child(std::string_view n) const;
  // The text of the first child with this name, or "".
  std::string child_text(std::string_view n) const;
  std::vector<const Element*> all(std::string_view n) const;
};

// Parses a document and returns its root element.
std::unique_ptr<Element> parse(std::string_view document);

// Escapes text for inclusion in an element.
std::string escape(std::string_view text);

}  // namespace lifeboat::storage::xml
