#include "lifeboat/config/config.hpp"

#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <set>

#include "lifeboat/core/error.hpp"

namespace lifeboat::config {

const JobConfig* Config::job(const std::string& name) const {
  auto it = jobs.find(name);
  return it == jobs.end() ? nullptr : &it->second;
}

const RepositoryConfig* Config::repository(const std::string& name) const {
  auto it = repositories.find(name);
  return it == repositories.end() ? nullptr : &it->second;
}

namespace {

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

class Parser {
 public:
  explicit Parser(std::string path) : m_path(std::move(path)) {}

  [[noreturn]] void fail(const YAML::Node& node, const std::string& msg) const {
    auto mark = node.Mark();
    throw UsageError("{}:{}: {}", m_path, mark.is_null() ? 0 : mark.line + 1, msg);
  }

  void check_keys(const YAML::Node& map, const std::string& where,
                  const std::vector<std::string>& valid) {
    if (!map.IsMap()) fail(map, fmt::format("{} must be a mapping", where));
    for (auto it = map.begin(); it != map.end(); ++it) {
      auto key = it->first.as<std::string>();
      if (std::find(valid.begin(), valid.end(), key) == valid.end())
        fail(it->first,
             fmt::format("unknown key '{}' in {} (valid keys: {})", key, where, join(valid)));
    }
  }

  std::string str(const YAML::Node& n, const std::string& what) {
    if (!n.IsScalar()) fail(n, fmt::format("{} must be a string", what));
    auto s = n.as<std::string>();
    if (s.empty()) fail(n, fmt::format("{} must not be empty", what));
    return s;
  }

  bool boolean(const YAML::Node& n, const std::string& what) {
    bool v;
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, v))
      fail(n, fmt::format("{} must be true or false", what));
    return v;
  }

  std::vector<std::string> list(const YAML::Node& n, const std::string& what) {
    std::vector<std::string> out;
    if (n.IsScalar()) {
      out.push_back(str(n, what));
      return out;
    }
    if (!n.IsSequence()) fail(n, fmt::format("{} must be a list of strings", what));
    for (auto item : n) out.push_back(str(item, what + " entry"));
    return out;
  }

  Config parse(const YAML::Node& root) {
    Config c;
    c.path = m_path;
    if (root.IsNull()) return c;
    check_keys(root, "the top level", {"cache-dir", "state-dir", "repositories", "jobs"});
    if (root["cache-dir"]) c.cache_dir = str(root["cache-dir"], "cache-dir");
    if (root["state-dir"]) c.state_dir = str(root["state-dir"], "state-dir");
    if (auto repos = root["repositories"]) {
      if (!repos.IsMap()) fail(repos, "repositories must be a mapping of names to repositories");
      for (auto it = repos.begin(); it != repos.end(); ++it) {
        RepositoryConfig r;
        r.name = it->first.as<std::string>();
        const YAML::Node& n = it->second;
        std::string where = fmt::format("repository '{}'", r.name);
        check_keys(n, where, {"url", "password-file", "password-command", "key-file"});
        if (!n["url"]) fail(n, fmt::format("{} has no url", where));
        r.url = str(n["url"], "url");
        int secrets = 0;
        if (n["password-file"])
          r.password_file = str(n["password-file"], "password-file"), ++secrets;
        if (n["password-command"])
          r.password_command = str(n["password-command"], "password-command"), ++secrets;
        if (n["key-file"]) r.key_file = str(n["key-file"], "key-file"), ++secrets;
        if (secrets > 1)
          fail(n, fmt::format("{} gives more than one of password-file, password-command, key-file",
                              where));
        c.repositories.emplace(r.name, r);
      }
    }
    if (auto jobs = root["jobs"]) {
      if (!jobs.IsMap()) fail(jobs, "jobs must be a mapping of names to jobs");
      for (auto it = jobs.begin(); it != jobs.end(); ++it) {
        JobConfig j;
        j.name = it->first.as<std::string>();
        const YAML::Node& n = it->second;
        std::string where = fmt::format("job '{}'", j.name);
        check_keys(
            n, where,
            {"repository", "paths", "exclude", "exclude-file", "tags", "host", "one-file-system"});
        if (n["repository"]) {
          j.repository = str(n["repository"], "repository");
          if (!c.repositories.count(j.repository)) {
            std::vector<std::string> names;
            for (auto& [k, v] : c.repositories) names.push_back(k);
            fail(n["repository"],
                 fmt::format("{} names unknown repository '{}' (defined: {})", where, j.repository,
                             names.empty() ? "none" : join(names)));
          }
        }
        if (n["paths"]) j.paths = list(n["paths"], "paths");
        if (n["exclude"]) j.exclude = list(n["exclude"], "exclude");
        if (n["exclude-file"]) j.exclude_file = str(n["exclude-file"], "exclude-file");
        if (n["tags"]) j.tags = list(n["tags"], "tags");
        if (n["host"]) j.host = str(n["host"], "host");
        if (n["one-file-system"])
          j.one_file_system = boolean(n["one-file-system"], "one-file-system");
        c.jobs.emplace(j.name, j);
      }
    }
    return c;
  }

 private:
  std::string m_path;
};

}  // namespace

Config load(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    throw UsageError("unable to read configuration file '{}' (does it exist and is it readable?)",
                     path);
  } catch (const YAML::Exception& e) {
    throw UsageError("{}:{}: invalid YAML: {}", path, e.mark.line + 1, e.msg);
  }
  try {
    return Parser(path).parse(root);
  } catch (const YAML::Exception& e) {
    throw UsageError("{}:{}: {}", path, e.mark.line + 1, e.msg);
  }
}

Config load_default(const std::string& explicit_path) {
  if (!explicit_path.empty()) return load(explicit_path);
  if (const char* env = std::getenv("LIFEBOAT_CONFIG"); env && *env) return load(env);
  struct stat st {};
  if (::stat(k_default_path, &st) == 0) return load(k_default_path);
  return {};
}

}  // namespace lifeboat::config
