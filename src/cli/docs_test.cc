#include "cli/docs.h"

#include <unistd.h>

#include <fstream>
#include <set>

#include "castore/testing/subprocess.h"
#include "castore/testing/temp_dir.h"
#include "cli/commands.h"
#include "gtest/gtest.h"

namespace castor::cli {
namespace {

using castore::testing::RunResult;
using castore::testing::TempDir;

// castor's real command tree, as main builds it.
struct Castor {
  CLI::App app{"castor: test", "castor"};
  Castor() { RegisterCommands(app); }
};

void Write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// What the bash completion offers for the words `line` (the last one being
// completed).
std::string BashCompletes(const TempDir& tmp, const std::string& line) {
  Write(tmp / "castor.bash", CompletionScript(Castor().app, "bash"));
  std::string probe = "source " + (tmp / "castor.bash") + " && COMP_WORDS=(" + line +
                      ") && COMP_CWORD=$((${#COMP_WORDS[@]} - 1)) && _castor && "
                      "printf '%s\\n' \"${COMPREPLY[@]}\"";
  RunResult r = castore::testing::Run({"bash", "-c", probe}, tmp / "probe");
  EXPECT_EQ(r.code, 0) << r.err;
  return r.out;
}

bool HaveProgram(const std::string& name) {
  TempDir tmp("docs");
  return castore::testing::Run({"sh", "-c", "command -v " + name}, tmp / "which").code == 0;
}

TEST(Completion, BashScriptIsValidBash) {
  TempDir tmp("docs");
  Write(tmp / "castor.bash", CompletionScript(Castor().app, "bash"));
  RunResult r = castore::testing::Run({"bash", "-n", tmp / "castor.bash"}, tmp / "n");
  EXPECT_EQ(r.code, 0) << r.err;
}

TEST(Completion, BashCompletesTopLevelCommandNames) {
  TempDir tmp("docs");
  EXPECT_EQ(BashCompletes(tmp, "castor imp"), "import\n");
  std::string all = BashCompletes(tmp, "castor ''");
  for (std::string cmd : {"import", "export", "ls", "mount", "nix"}) {
    EXPECT_NE(all.find(cmd + "\n"), std::string::npos) << cmd << " in\n" << all;
  }
}

TEST(Completion, BashLeavesHiddenCommandsOut) {
  TempDir tmp("docs");
  EXPECT_EQ(BashCompletes(tmp, "castor comp"), "\n");
  EXPECT_EQ(BashCompletes(tmp, "castor ma"), "\n");
}

TEST(Completion, BashCompletesNestedCommandsAndTheirOptions) {
  TempDir tmp("docs");
  EXPECT_NE(BashCompletes(tmp, "castor nix ''").find("serve\n"), std::string::npos);
  std::string opts = BashCompletes(tmp, "castor mount --backg");
  EXPECT_EQ(opts, "--background\n");
  EXPECT_NE(BashCompletes(tmp, "castor import --").find("--store\n"), std::string::npos);
}

TEST(Completion, OtherShellsGetScriptsNamingEveryCommand) {
  Castor c;
  for (std::string shell : {"zsh", "fish"}) {
    std::string script = CompletionScript(c.app, shell);
    EXPECT_NE(script.find("import"), std::string::npos) << shell;
    EXPECT_NE(script.find("serve"), std::string::npos) << shell;
    // Only the header names the hidden command.
    size_t header = script.find("completion " + shell);
    EXPECT_NE(header, std::string::npos) << shell;
    EXPECT_EQ(script.find("completion", header + 1), std::string::npos) << shell;
  }
  EXPECT_EQ(CompletionScript(c.app, "tcsh"), "");
}

TEST(Completion, ZshScriptIsValidZsh) {
  if (!HaveProgram("zsh")) GTEST_SKIP() << "zsh not installed";
  TempDir tmp("docs");
  Write(tmp / "_castor", CompletionScript(Castor().app, "zsh"));
  RunResult r = castore::testing::Run({"zsh", "-n", tmp / "_castor"}, tmp / "n");
  EXPECT_EQ(r.code, 0) << r.err;
}

TEST(Completion, FishCompletesCommandsAndOptions) {
  if (!HaveProgram("fish")) GTEST_SKIP() << "fish not installed";
  TempDir tmp("docs");
  Write(tmp / "castor.fish", CompletionScript(Castor().app, "fish"));
  RunResult r =
      castore::testing::Run({"fish", "-c",
                             "source " + (tmp / "castor.fish") +
                                 "; complete -C 'castor imp'; complete -C 'castor nix ser'; "
                                 "complete -C 'castor mount --backg'"},
                            tmp / "fish");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  EXPECT_TRUE(r.out.starts_with("import\t")) << r.out;
  EXPECT_NE(r.out.find("\nserve\t"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\n--background\t"), std::string::npos) << r.out;
}

TEST(ManPages, EveryVisibleCommandHasAPage) {
  Castor c;
  std::set<std::string> names;
  for (const ManPage& p : ManPages(c.app, "castor 0")) names.insert(p.file_name);
  for (std::string page :
       {"castor.1", "castor-import.1", "castor-export.1", "castor-ls.1", "castor-cat.1",
        "castor-mount.1", "castor-nix.1", "castor-nix-serve.1"}) {
    EXPECT_TRUE(names.count(page)) << page;
  }
  EXPECT_FALSE(names.count("castor-completion.1"));
  EXPECT_FALSE(names.count("castor-man.1"));
  // One per command in the tree, walked here independently of docs.cc.
  size_t commands = 0;
  std::function<void(const CLI::App*)> count = [&](const CLI::App* a) {
    ++commands;
    for (const CLI::App* s :
         a->get_subcommands([](const CLI::App* x) { return !x->get_group().empty(); })) {
      count(s);
    }
  };
  count(&c.app);
  EXPECT_EQ(names.size(), commands);
}

TEST(ManPages, RenderWithoutGroffWarnings) {
  if (!HaveProgram("groff")) GTEST_SKIP() << "groff not installed";
  TempDir tmp("docs");
  for (const ManPage& p : ManPages(Castor().app, "castor 0")) {
    Write(tmp / p.file_name, p.roff);
    RunResult r = castore::testing::Run({"groff", "-man", "-Tutf8", "-ww", "-z", tmp / p.file_name},
                                        tmp / "groff");
    EXPECT_EQ(r.code, 0) << p.file_name << ": " << r.err;
    EXPECT_EQ(r.err, "") << p.file_name;
  }
}

TEST(ManPages, ImportPageListsItsOptions) {
  for (const ManPage& p : ManPages(Castor().app, "castor 0")) {
    if (p.file_name != "castor-import.1") continue;
    EXPECT_EQ(p.roff.find(".TH CASTOR\\-IMPORT 1"), 0u) << p.roff;
    EXPECT_NE(p.roff.find("\\fB\\-\\-store\\fR"), std::string::npos) << p.roff;
    // A flag takes no value.
    EXPECT_NE(p.roff.find("\\fB\\-\\-help\\fR\n"), std::string::npos) << p.roff;
    return;
  }
  ADD_FAILURE() << "no castor-import.1";
}

}  // namespace
}  // namespace castor::cli
