#include "lifeboat/storage/xml.hpp"

#include <stdexcept>

#include "lifeboat/core/error.hpp"

namespace lifeboat::storage::xml {
namespace {

constexpr int k_max_depth = 32;

class Parser {
 public:
  explicit Parser(std::string_view s) : m_s(s) {}

  std::unique_ptr<Element> document() {
    skip_misc();
    if (!at("<")) fail("no root element");
    auto root = element(0);
    skip_misc();
    if (m_pos != m_s.size()) fail("content after the root element");
    return root;
  }

 private:
  [[noreturn]] void fail(const char* what) {
    throw Error(Exit::storage, "malformed XML ({} at byte {})", what, m_pos);
  }
  bool at(std::string_view p) const { return m_s.substr(m_pos, p.size()) == p; }
  void skip_ws() {
    while (m_pos < m_s.size() &&
           (m_s[m_pos] == ' ' || m_s[m_pos] == '\t' || m_s[m_pos] == '\r' || m_s[m_pos] == '\n'))
      ++m_pos;
  }
  void skip_past(std::string_view end) {
    auto e = m_s.find(end, m_pos);
    if (e == std::string_view::npos) fail("unterminated construct");
    m_pos = e + end.size();
  }
  // Whitespace, the XML declaration, processing instructions, comments, a DOCTYPE-free prolog.
  void skip_misc() {
    for (;;) {
      skip_ws();
      if (at("<?")) {
        skip_past("?>");
      } else if (at("<!--")) {
        skip_past("-->");
      } else {
        return;
      }
    }
  }
  std::string name() {
    size_t start = m_pos;
    while (m_pos < m_s.size()) {
      char c = m_s[m_pos];
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '>' || c == '/' || c == '=')
        break;
      if (c == '<' || c == '"' || c == '\'') fail("bad character in a name");
      ++m_pos;
    }
    if (m_pos == start) fail("empty name");
    std::string n(m_s.substr(start, m_pos - start));
    if (auto colon = n.find(':'); colon != std::string::npos) n = n.substr(colon + 1);
    return n;
  }
  void skip_attributes() {
    for (;;) {
      skip_ws();
      if (m_pos >= m_s.size()) fail("unterminated tag");
      if (at(">") || at("/>")) return;
      name();
      skip_ws();
      if (!at("=")) fail("attribute without a value");
      ++m_pos;
      skip_ws();
      if (m_pos >= m_s.size() || (m_s[m_pos] != '"' && m_s[m_pos] != '\'')) fail("bad attribute");
      char q = m_s[m_pos++];
      auto e = m_s.find(q, m_pos);
      if (e == std::string_view::npos) fail("unterminated attribute");
      m_pos = e + 1;
    }
  }
  static void append_utf8(std::string& out, unsigned long cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  void entity(std::string& out) {
    auto semi = m_s.find(';', m_pos);
    if (semi == std::string_view::npos || semi - m_pos > 12) fail("bad entity");
    std::string_view e = m_s.substr(m_pos + 1, semi - m_pos - 1);
    m_pos = semi + 1;
    if (e == "amp")
      out += '&';
    else if (e == "lt")
      out += '<';
    else if (e == "gt")
      out += '>';
    else if (e == "quot")
      out += '"';
    else if (e == "apos")
      out += '\'';
    else if (e.size() > 1 && e[0] == '#') {
      unsigned long cp = 0;
      bool hex = e[1] == 'x';
      std::string digits(e.substr(hex ? 2 : 1));
      if (digits.empty()) fail("bad character reference");
      size_t used = 0;
      try {
        cp = std::stoul(digits, &used, hex ? 16 : 10);
      } catch (...) {
        fail("bad character reference");
      }
      if (used != digits.size() || cp == 0 || cp > 0x10FFFF) fail("bad character reference");
      append_utf8(out, cp);
    } else {
      fail("unknown entity");
    }
  }
  std::unique_ptr<Element> element(int depth) {
    if (depth > k_max_depth) fail("nesting too deep");
    ++m_pos;  // '<'
    auto el = std::make_unique<Element>();
    size_t name_start = m_pos;
    el->name = name();
    std::string_view full_name = m_s.substr(name_start, m_pos - name_start);
    skip_attributes();
    if (at("/>")) {
      m_pos += 2;
      return el;
    }
    ++m_pos;  // '>'
    for (;;) {
      if (m_pos >= m_s.size()) fail("unterminated element");
      char c = m_s[m_pos];
      if (c == '<') {
        if (at("</")) {
          m_pos += 2;
          size_t s = m_pos;
          name();
          if (m_s.substr(s, m_pos - s) != full_name) fail("mismatched end tag");
          skip_ws();
          if (!at(">")) fail("bad end tag");
          ++m_pos;
          return el;
        }
        if (at("<!--")) {
          skip_past("-->");
        } else if (at("<![CDATA[")) {
          m_pos += 9;
          auto e = m_s.find("]]>", m_pos);
          if (e == std::string_view::npos) fail("unterminated CDATA");
          el->text += m_s.substr(m_pos, e - m_pos);
          m_pos = e + 3;
        } else if (at("<?")) {
          skip_past("?>");
        } else if (at("<!")) {
          fail("declaration inside an element");
        } else {
          el->children.push_back(element(depth + 1));
        }
      } else if (c == '&') {
        entity(el->text);
      } else {
        el->text += c;
        ++m_pos;
      }
    }
  }

  std::string_view m_s;
  size_t m_pos = 0;
};

}  // namespace

const Element* Element::child(std::string_view n) const {
  for (const auto& c : children)
    if (c->name == n) return c.get();
  return nullptr;
}

std::string Element::child_text(std::string_view n) const {
  const Element* c = child(n);
  return c ? c->text : std::string();
}

std::vector<const Element*> Element::all(std::string_view n) const {
  std::vector<const Element*> out;
  for (const auto& c : children)
    if (c->name == n) out.push_back(c.get());
  return out;
}

std::unique_ptr<Element> parse(std::string_view document) { return Parser(document).document(); }

std::string escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace lifeboat::storage::xml
