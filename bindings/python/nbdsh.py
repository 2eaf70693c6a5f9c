# SPDX-License-Identifier: BSD-3-Clause
"""nbdsh: the NBD shell. A Python interpreter with the nbd module imported and a handle `h`,
with upstream's options: -c CODE (repeatable; - reads stdin), -u/--uri/--connect URI,
--base-allocation, --opt-mode, -n (no handle), -v/--verbose, -V/--version. The options act in the order
given; without -c the shell is interactive."""

import argparse
import code
import sys
import traceback


class _InOrder(argparse.Action):
    def __call__(self, parser, ns, values, option_string=None):
        ns.actions = ns.actions + [(self.dest, values)]


def shell(argv=None):
    import nbd

    p = argparse.ArgumentParser(prog="nbdsh", description="Network Block Device (NBD) shell",
                                epilog="See nbdsh(1).")
    p.set_defaults(actions=[])
    p.add_argument("-c", "--command", dest="command", action=_InOrder, help="run a Python statement (repeatable)")
    p.add_argument("-u", "--uri", "--connect", dest="uri", action=_InOrder, help="connect to the NBD URI")
    p.add_argument("--base-allocation", dest="base", action=_InOrder, nargs=0,
                   help='request the "base:allocation" meta context')
    p.add_argument("--opt-mode", dest="opt", action=_InOrder, nargs=0, help="stop in option negotiation")
    p.add_argument("-n", dest="no_handle", action="store_true", help="do not create the handle h")
    p.add_argument("-v", "--verbose", action="store_true", help="debug messages from the handle (set_debug)")
    p.add_argument("-V", "--version", action="store_true", help="print the version and exit")
    p.add_argument("--long-options", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--short-options", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.long_options or args.short_options:
        for a in p._actions:
            for s in a.option_strings:
                if s.startswith("--") == args.long_options and s not in ("--long-options", "--short-options"):
                    print(s)
        return 0
    if args.version:
        print(f"nbdsh {nbd.NBD().get_version()} (nbdkit++)")
        return 0
    env = {"nbd": nbd, "__name__": "__main__"}
    if not args.no_handle:
        env["h"] = nbd.NBD()
        if args.verbose:
            env["h"].set_debug(True)
    elif any(a != "command" for a, _ in args.actions):
        p.error("-n cannot be combined with -u, --base-allocation or --opt-mode")
    interactive = not any(a == "command" for a, _ in args.actions)
    try:
        for kind, value in args.actions:
            h = env.get("h")
            if kind == "base":
                h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
            elif kind == "opt":
                h.set_opt_mode(True)
            elif kind == "uri":
                h.connect_uri(value)
            else:
                source = sys.stdin.read() if value == "-" else value
                exec(compile(source, "<command>" if value != "-" else "<stdin>", "exec"), env)
    except nbd.Error as e:
        print(f"nbdsh: {e}", file=sys.stderr)
        return 1
    except SystemExit:
        raise
    except BaseException:
        traceback.print_exc()
        return 1
    if interactive:
        banner = ("\nWelcome to nbdsh, the shell for interacting with Network Block Device (NBD) "
                  "servers.\n\nThe nbd module has already been imported and there is an open "
                  "NBD handle called 'h'.\n\nh.connect_command([\"nbdkit\", \"-s\", \"memory\", \"1G\"])"
                  "   Connect to a server\nh.get_size()   Get the export size\n"
                  "h.pread(512, 0)   Read a sector\nquit()   Leave the shell\n")
        code.interact(banner=banner if not args.no_handle else "", local=env, exitmsg="")
    return 0


if __name__ == "__main__":
    sys.exit(shell())
