// meshq audit: the bridge's request/reply audit. Built into the tool only when the bridge is
// (MESHQ_HAVE_BRIDGE_AUDIT); otherwise it says so.
#include "commands.h"

#ifdef MESHQ_HAVE_BRIDGE_AUDIT
#include "meshq/bridge/audit.h"
#endif

namespace meshq::cli {

int RunAuditCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
#ifdef MESHQ_HAVE_BRIDGE_AUDIT
  return meshq::bridge::RunAudit(args, out, err);
#else
  (void)args;
  (void)out;
  err << "meshq audit: this meshq was built without the bridge (configure with "
         "-DMESHQ_BUILD_BRIDGE=ON)\n";
  return kExitUsage;
#endif
}

}  // namespace meshq::cli
