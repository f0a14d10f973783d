#include <catch2/catch.hpp>

#include "lifeboat/core/error.hpp"
#include "lifeboat/storage/xml.hpp"

using namespace lifeboat::storage;

TEST_CASE("xml: namespaced listings parse, entities decode", "[xml]") {
  auto doc = xml::parse(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<ListBucketResult xmlns=\"http://doc.s3.amazonaws.com/2006-03-01/\">"
      "<s3:IsTruncated xmlns:s3=\"x\">true</s3:IsTruncated>"
      "<Contents><Key>data/a&amp;b&#x41;&#66;</Key><Size>12</Size></Contents>"
      "<Contents><Key><![CDATA[c<d]]></Key><Size>3</Size></Contents>"
      "<!-- comment --><Empty/></ListBucketResult>");
  CHECK(doc->name == "ListBucketResult");
  CHECK(doc->child_text("IsTruncated") == "true");
  auto contents = doc->all("Contents");
  REQUIRE(contents.size() == 2);
  CHECK(contents[0]->child_text("Key") == "data/a&bAB");
  CHECK(contents[1]->child_text("Key") == "c<d");
  CHECK(doc->child("Empty") != nullptr);
  CHECK(doc->child("Missing") == nullptr);
}

TEST_CASE("xml: HTML pages, truncation and junk are rejected", "[xml]") {
  CHECK_THROWS_AS(xml::parse("<!DOCTYPE html><html><body>Gateway</body></html>"), lifeboat::Error);
  CHECK_THROWS_AS(xml::parse("<ListBucketResult><Contents><Key>a</Key>"), lifeboat::Error);
  CHECK_THROWS_AS(xml::parse("<a></b>"), lifeboat::Error);
  CHECK_THROWS_AS(xml::parse(""), lifeboat::Error);
  CHECK_THROWS_AS(xml::parse("garbage"), lifeboat::Error);
  CHECK_THROWS(xml::parse("<a>&bogus;</a>"));
  CHECK_THROWS(xml::parse("<a>&#0;</a>"));
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += "<a>";
  CHECK_THROWS(xml::parse(deep));
  CHECK(xml::escape("<a&'\">") == "&lt;a&amp;&apos;&quot;&gt;");
}
