# A Rego policy written against the request fields the README documents
# ("Rego"): `kind`, `argv`, `command`, `path`, `host`, `port`, `unix`,
# `name`, `args`, `cwd`, `workspace` and `sandboxed`. It sits beside a
# `.vtp` policy, strictest wins:
#
#   vtpolicy explain --policy workspace-write --policy policies/request-fields.rego -- rm -r /srv/data
#
# Each rule adds its id to the set of the effect it asks for; `decision`
# is the strictest effect asked, and undefined (the policy abstains) when
# no rule asks anything.
package vtpolicy

import rego.v1

# Recursive deletion outside the workspace, even where the sandbox would
# contain it. `argv` is after normalisation (`env`, `nice`, `timeout`
# and other wrappers removed); an argument only known at run time is
# `null`.
deny contains "no-recursive-rm-outside-workspace" if {
	input.kind == "exec"
	input.argv[0] == "rm"
	some flag in input.argv
	is_string(flag)
	regex.match(`^(-[a-zA-Z]*[rR]|--recursive$)`, flag)
	some target in input.argv
	is_string(target)
	startswith(target, "/")
	not startswith(target, input.workspace)
}

# Shell text that pipes a download into a shell, however it is split.
deny contains "no-pipe-to-shell" if {
	input.kind == "exec"
	regex.match(`(curl|wget)[^|]*\|\s*(ba|z|da)?sh\b`, input.command)
}

# Issues and pull requests only in the team's own repositories.
prompt contains "github-writes-outside-our-org" if {
	input.kind == "tool"
	regex.match(`^mcp__github__(create|update|merge)_`, input.name)
	not startswith(object.get(input.args, "repo", ""), "our-org/")
}

# Cloud metadata and internal names, by host.
deny contains "no-internal-hosts" if {
	input.kind == "net"
	regex.match(`(\.internal|\.local)$`, input.host)
}

# Outside the sandbox, nothing but reads leaves the working directory's
# tree unasked.
prompt contains "unsandboxed-writes-outside-cwd" if {
	input.kind == "write"
	not input.sandboxed
	not startswith(input.path, input.cwd)
}

decision := "deny" if count(deny) > 0

decision := "prompt" if {
	count(deny) == 0
	count(prompt) > 0
}

rules := deny if count(deny) > 0

rules := prompt if {
	count(deny) == 0
	count(prompt) > 0
}

why := {
	"no-recursive-rm-outside-workspace": "deletes a tree outside the workspace",
	"no-pipe-to-shell": "runs a download as a script",
	"github-writes-outside-our-org": "writes to a repository outside our-org",
	"no-internal-hosts": "internal and metadata hosts are off limits",
	"unsandboxed-writes-outside-cwd": "writes outside the working directory, unsandboxed",
}

reasons contains why[id] if some id in rules
