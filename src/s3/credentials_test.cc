#include "s3/credentials.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "castore/testing/temp_dir.h"

namespace castor::s3 {
namespace {

using ::testing::HasSubstr;

EnvLookup Env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](std::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

class CredentialsTest : public ::testing::Test {
 protected:
  std::string WriteFile(const std::string& name, const std::string& contents) {
    std::string path = dir_.path() + "/" + name;
    std::ofstream(path) << contents;
    return path;
  }
  castore::testing::TempDir dir_{"s3-credentials"};
};

TEST_F(CredentialsTest, EnvironmentComesFirst) {
  WriteFile("credentials", "[default]\naws_access_key_id = FILE\naws_secret_access_key = f\n");
  absl::StatusOr<Credentials> c =
      LoadCredentials(Env({{"AWS_ACCESS_KEY_ID", "ENVKEY"},
                           {"AWS_SECRET_ACCESS_KEY", "envsecret"},
                           {"AWS_SESSION_TOKEN", "tok"},
                           {"AWS_SHARED_CREDENTIALS_FILE", dir_.path() + "/credentials"}}));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->access_key_id, "ENVKEY");
  EXPECT_EQ(c->secret_access_key, "envsecret");
  EXPECT_EQ(c->session_token, "tok");
  EXPECT_EQ(c->source, "environment");
}

TEST_F(CredentialsTest, HalfSetEnvironmentIsAnError) {
  absl::StatusOr<Credentials> c = LoadCredentials(Env({{"AWS_ACCESS_KEY_ID", "K"}}));
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(c.status().message(),
              HasSubstr("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not"));
  c = LoadCredentials(Env({{"AWS_SECRET_ACCESS_KEY", "S"}, {"AWS_ACCESS_KEY_ID", ""}}));
  EXPECT_THAT(c.status().message(),
              HasSubstr("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not"));
}

TEST_F(CredentialsTest, DefaultProfileOfHomeCredentialsFile) {
  std::filesystem::create_directories(dir_.path() + "/.aws");
  WriteFile(".aws/credentials",
            "# comment\n[other]\naws_access_key_id=O\naws_secret_access_key=o\n\n"
            "[ default ]\n  AWS_ACCESS_KEY_ID = DEF  \n; note\naws_secret_access_key = s e c\n"
            "aws_session_token = t=1\n");
  absl::StatusOr<Credentials> c = LoadCredentials(Env({{"HOME", dir_.path()}}));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->access_key_id, "DEF");
  EXPECT_EQ(c->secret_access_key, "s e c");
  EXPECT_EQ(c->session_token, "t=1");
  EXPECT_EQ(c->source, "profile [default] of " + dir_.path() + "/.aws/credentials");
}

TEST_F(CredentialsTest, AwsProfileAndSharedCredentialsFileChooseTheProfile) {
  std::string path = WriteFile("creds",
                               "[default]\naws_access_key_id=D\naws_secret_access_key=d\n[ci]\n"
                               "aws_access_key_id=CI\naws_secret_access_key=ci-secret\n");
  absl::StatusOr<Credentials> c =
      LoadCredentials(Env({{"AWS_SHARED_CREDENTIALS_FILE", path}, {"AWS_PROFILE", "ci"}}));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->access_key_id, "CI");
  EXPECT_EQ(c->secret_access_key, "ci-secret");
  EXPECT_EQ(c->session_token, "");
}

TEST_F(CredentialsTest, MissingProfileNamesProfileAndFile) {
  std::string path =
      WriteFile("creds", "[default]\naws_access_key_id=D\naws_secret_access_key=d\n");
  absl::StatusOr<Credentials> c =
      LoadCredentials(Env({{"AWS_SHARED_CREDENTIALS_FILE", path}, {"AWS_PROFILE", "prod"}}));
  EXPECT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(c.status().message(), HasSubstr(path + " has no [prod] profile"));
}

TEST_F(CredentialsTest, ProfileWithoutSecretIsAnError) {
  std::string path = WriteFile("creds", "[default]\naws_access_key_id=D\n");
  absl::StatusOr<Credentials> c = LoadCredentials(Env({{"AWS_SHARED_CREDENTIALS_FILE", path}}));
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(c.status().message(), HasSubstr("has no aws_secret_access_key"));
}

TEST_F(CredentialsTest, MalformedFileNamesTheLine) {
  std::string path = WriteFile("creds", "[default]\naws_access_key_id D\n");
  absl::StatusOr<Credentials> c = LoadCredentials(Env({{"AWS_SHARED_CREDENTIALS_FILE", path}}));
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(c.status().message(), HasSubstr(path + ":2: expected key = value"));
}

TEST_F(CredentialsTest, NothingConfiguredSaysWhatToSet) {
  absl::StatusOr<Credentials> c = LoadCredentials(Env({{"HOME", dir_.path()}}));
  EXPECT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(c.status().message(), HasSubstr("no S3 credentials found"));
  EXPECT_THAT(c.status().message(), HasSubstr("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"));
  EXPECT_THAT(c.status().message(), HasSubstr(dir_.path() + "/.aws/credentials"));
}

TEST_F(CredentialsTest, ExplicitFileThatDoesNotExistIsNamed) {
  std::string path = dir_.path() + "/nope";
  absl::StatusOr<Credentials> c = LoadCredentials(Env({{"AWS_SHARED_CREDENTIALS_FILE", path}}));
  EXPECT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(c.status().message(), HasSubstr("cannot read " + path));
}

}  // namespace
}  // namespace castor::s3
