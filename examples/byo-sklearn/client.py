"""Each site trains a logistic-regression SGDClassifier on its own (synthetic) rows; NVFlare's Client API."""

import warnings

import numpy as np
import nvflare.client as flare
from nvflare.app_common.abstract.fl_model import FLModel
from nvflare.client.tracking import SummaryWriter
from sklearn.linear_model import SGDClassifier

warnings.filterwarnings("ignore")
flare.init()
site = flare.get_site_name()
rng = np.random.default_rng(int(site.rsplit("-", 1)[-1]))
x = rng.normal(size=(200, 5))
y = (x @ np.array([1.0, -2.0, 0.5, 0.0, 1.5]) > 0).astype(int)
writer = SummaryWriter()
while flare.is_running():
    model = flare.receive()
    params = model.params or {}
    clf = SGDClassifier(loss="log_loss", learning_rate="constant", eta0=0.05, max_iter=5, tol=None, random_state=0)
    if "coef" in params:
        clf.fit(x, y, coef_init=np.asarray(params["coef"]), intercept_init=np.asarray(params["intercept"]))
    else:
        clf.fit(x, y)
    accuracy = float(clf.score(x, y))
    writer.add_scalar("accuracy", accuracy, global_step=model.current_round)
    flare.send(FLModel(params={"coef": clf.coef_, "intercept": clf.intercept_}, metrics={"accuracy": accuracy},
                       meta={"NUM_STEPS_CURRENT_ROUND": len(y)}))
