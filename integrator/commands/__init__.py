"""One module per `integrator` command group (registered in `integrator.cli.COMMAND_GROUPS`)."""
