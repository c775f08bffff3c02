"""FATE's toy example, SecureAddExample: guest and host add their numbers without revealing them.

Each party draws ``data_num`` numbers from its ``seed``, splits them into two random shares, keeps one
and sends the other to its peer; each adds the share it kept to the share it received, and the guest
adds its partial sum to the host's to get the total. Logged by ``secure_add_guest`` /
``secure_add_host`` (``flow test toy`` greps the guest's INFO.log for ``secure_add_guest``).
"""

from __future__ import annotations

from fate_flow.components.context import ComponentContext, ComponentError


def run(ctx: ComponentContext) -> None:
    if ctx.federation is None:
        raise ComponentError("SecureAddExample needs a guest and a host")
    if ctx.role == "guest":
        from fate_flow.components.toy import secure_add_guest

        secure_add_guest.run(ctx)
    elif ctx.role == "host":
        from fate_flow.components.toy import secure_add_host

        secure_add_host.run(ctx)
    else:
        raise ComponentError(f"SecureAddExample has no role {ctx.role}")
