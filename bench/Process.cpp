#include "bench/Process.h"

#include <chrono>
#include <cstdlib>
#include <fcntl.h>
#include <sstream>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace cnnc::bench {

ProcessResult runProcess(const std::vector<std::string> &argv,
                         bool quietStderr) {
  ProcessResult r;
  int fds[2];
  if (argv.empty() || pipe(fds) != 0)
    return r;
  std::vector<char *> args;
  for (const std::string &a : argv)
    args.push_back(const_cast<char *>(a.c_str()));
  args.push_back(nullptr);
  auto start = std::chrono::steady_clock::now();
  pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return r;
  }
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    if (quietStderr) {
      int null = open("/dev/null", O_WRONLY);
      if (null >= 0)
        dup2(null, STDERR_FILENO);
    }
    execvp(args[0], args.data());
    _exit(127);
  }
  close(fds[1]);
  r.started = true;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0)
    r.out.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  struct rusage usage = {};
  wait4(pid, &status, 0, &usage);
  r.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  r.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.maxRssMb = static_cast<double>(usage.ru_maxrss) / 1024.0; // KiB on Linux
  return r;
}

std::string selfPath() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
}

std::string field(const std::string &out, const std::string &prefix,
                  const std::string &key) {
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(prefix, 0) != 0)
      continue;
    std::istringstream words(line.substr(prefix.size()));
    std::string w;
    while (words >> w)
      if (w.size() > key.size() && w.compare(0, key.size(), key) == 0 &&
          w[key.size()] == '=')
        return w.substr(key.size() + 1);
    return "";
  }
  return "";
}

double fieldNumber(const std::string &out, const std::string &prefix,
                   const std::string &key) {
  std::string v = field(out, prefix, key);
  return v.empty() ? 0 : std::strtod(v.c_str(), nullptr);
}

} // namespace cnnc::bench
