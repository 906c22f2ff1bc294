#include "s3/xml.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace castor::s3 {
namespace {

using ::testing::HasSubstr;

TEST(XmlTest, ReadsAnRgwListing) {
  // As Ceph RGW 16 answers ListObjectsV2 (entities in ETags, namespace).
  absl::StatusOr<XmlElement> xml = ParseXml(
      R"(<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>bkt1</Name><Prefix></Prefix><MaxKeys>1</MaxKeys><IsTruncated>true</IsTruncated><Contents><Key>a &amp; b</Key><LastModified>2026-12-04T15:55:34.807Z</LastModified><ETag>&quot;8cbad96aced40b3838dd9f07f6ef5772&quot;</ETag><Size>4</Size><StorageClass>STANDARD</StorageClass><Type>Normal</Type></Contents><NextContinuationToken>k</NextContinuationToken><KeyCount>1</KeyCount></ListBucketResult>)");
  ASSERT_TRUE(xml.ok()) << xml.status();
  EXPECT_EQ(xml->name, "ListBucketResult");
  EXPECT_EQ(xml->ChildText("IsTruncated"), "true");
  EXPECT_EQ(xml->ChildText("NextContinuationToken"), "k");
  EXPECT_EQ(xml->ChildText("Prefix"), "");
  EXPECT_EQ(xml->ChildText("Missing"), "");
  const XmlElement* contents = xml->Child("Contents");
  ASSERT_NE(contents, nullptr);
  EXPECT_EQ(contents->ChildText("Key"), "a & b");
  EXPECT_EQ(contents->ChildText("ETag"), "\"8cbad96aced40b3838dd9f07f6ef5772\"");
  EXPECT_EQ(contents->ChildText("Size"), "4");
}

TEST(XmlTest, KeepsWhitespaceOfTextAndDecodesReferences) {
  absl::StatusOr<XmlElement> xml = ParseXml(
      "<!-- c --><a:Error xmlns:a=\"x\">\n  <a:Code>Slow&#x44;own</a:Code>\n"
      "  <Message> two  spaces &#233; &lt;&gt;&apos;</Message><E/><![CDATA[<raw>]]></a:Error>\n");
  ASSERT_TRUE(xml.ok()) << xml.status();
  EXPECT_EQ(xml->name, "Error");
  EXPECT_EQ(xml->ChildText("Code"), "SlowDown");
  EXPECT_EQ(xml->ChildText("Message"), " two  spaces \xC3\xA9 <>'");
  ASSERT_NE(xml->Child("E"), nullptr);
  EXPECT_THAT(xml->text, HasSubstr("<raw>"));
}

TEST(XmlTest, RejectsMalformedDocumentsWithTheOffset) {
  for (const char* bad :
       {"", "text", "<a>", "<a></b>", "<a><b></a>", "<a>&bogus;</a>", "<a>&#0;</a>",
        "<a>&#xD800;</a>", "<a x=1></a>", "<a></a><b/>", "<!DOCTYPE a><a/>", "<a><!ENTITY x></a>",
        "<a>&#99999999;</a>", "<a><![CDATA[x</a>", "<a x=\"1></a>"}) {
    absl::StatusOr<XmlElement> xml = ParseXml(bad);
    EXPECT_EQ(xml.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(xml.status().message(), HasSubstr("malformed XML at byte")) << bad;
  }
}

TEST(XmlTest, BoundsNestingDepth) {
  std::string deep;
  for (int i = 0; i < 10000; ++i) deep += "<a>";
  absl::StatusOr<XmlElement> xml = ParseXml(deep);
  EXPECT_THAT(xml.status().message(), HasSubstr("nested too deeply"));
}

TEST(XmlTest, EscapesText) {
  EXPECT_EQ(XmlEscape("\"a\" & <b> 'c'"), "&quot;a&quot; &amp; &lt;b&gt; &apos;c&apos;");
  absl::StatusOr<XmlElement> back = ParseXml("<x>" + XmlEscape("\"a\" & <b>") + "</x>");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->text, "\"a\" & <b>");
}

}  // namespace
}  // namespace castor::s3
