"""Built-in components. Each module (or package) here declares a ``SPEC`` (see ``fate_flow.framework``);
the registry finds them, so adding a component is adding a module. Spec modules import nothing heavy:
runners are named by ``"module:function"`` and imported only by the executor that runs them."""
