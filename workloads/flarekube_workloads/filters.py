"""Result filters a site's privacy scope (local/privacy.json) uses beyond NVFlare's own.

`LocalModelBlocker`: cross-site evaluation asks each site for its locally trained model (the
`submit_model` task) and ships it to every other site; a site whose policy says `shareLocalModel: false`
refuses that one result and nothing else. NVFlare's DXOBlocker decides by data kind, which cannot tell a
locally trained model from a full-weight training result, so this filter decides by task.
"""

from __future__ import annotations

from nvflare.apis.filter import ContentBlockedException, Filter
from nvflare.apis.fl_constant import FLContextKey, ReservedKey
from nvflare.apis.fl_context import FLContext
from nvflare.apis.shareable import ReservedHeaderKey, Shareable
from nvflare.app_common.app_constant import AppConstants


class LocalModelBlocker(Filter):
    def process(self, shareable: Shareable, fl_ctx: FLContext) -> Shareable:
        task = shareable.get_header(ReservedHeaderKey.TASK_NAME) or fl_ctx.get_prop(FLContextKey.TASK_NAME)
        if task == AppConstants.TASK_SUBMIT_MODEL:
            site = fl_ctx.get_prop(ReservedKey.IDENTITY_NAME, "this site")
            raise ContentBlockedException(f"{site}'s policy does not share its local model (shareLocalModel: false)")
        return shareable
