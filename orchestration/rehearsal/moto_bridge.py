"""Where moto's Step Functions interpreter differs from AWS, bridged for the rehearsal and the
moto tests alike (tests/moto_shims.py installs the same replacement)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def glue_sync(poll_seconds: float) -> Callable[..., None]:
    """moto's optimised Glue integration crashes on `.sync`: it tears down a callback endpoint
    that only `.waitForTaskToken` creates ('NoneType' object has no attribute
    'interrupt_all'). AWS polls GetJobRun until the run ends; so does this replacement, every
    `poll_seconds`."""

    def eval_integration_pattern(
        self: Any,
        env: Any,
        resource_runtime_part: Any,
        normalised_parameters: Any,
        state_credentials: Any,
    ) -> None:
        task_output = env.stack.pop()
        self.timeout.eval(env=env)
        env.stack.pop()
        env.stack.append(task_output)
        resolve = self._build_sync_resolver(
            env=env,
            resource_runtime_part=resource_runtime_part,
            normalised_parameters=normalised_parameters,
            state_credentials=state_credentials,
        )
        while env.is_running():
            outcome: Any = resolve()
            if outcome:
                env.stack.append(outcome)
                return
            time.sleep(poll_seconds)

    return eval_integration_pattern
