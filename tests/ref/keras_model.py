#!/usr/bin/env python3
"""The whole-model file of `predict --save-model` against tf.keras itself
(`make test-dev`; dev-only).

  keras_model.py [--bin bin] [--tools build/demo] --weights W.h5
                 [--shared ../shared/data] [--work DIR] [--keep]
                 [--conv winograd|direct]

For VGG16 (the weights W.h5, the generated test weights), VGG-Face
(`gen_weights --seed 1 --layout vggface`: keras-vggface's layout), and
VGG16 with a head of a hidden layer (train-head --hidden 16: the model
then holds Dense(16, relu) named dense_1 and Dense(K, softmax) named
dense_2, as the head file names them):
 1. generated faces (gen_faces: 4 people, 10 images each, 2 of each held
    out), a store made by extract, a head trained by train-head (3 epochs
    at Keras' Adam(1e-4): probabilities well inside (0, 1));
 2. `predict --save-model face_model.h5`;
 3. the file against the one tf-keras 2.21 writes for the seed's model:
    the seed's code run here (VGG16(weights=None), or keras-vggface's VGG16
    as its models.py builds it, since keras-vggface itself no longer
    imports; every layer up to the vector, frozen, then
    Dense(K, softmax)), named as ours ('sequential_1', 'dense_1'), saved
    with model.save('x.h5'): model_config equal byte for byte; the same
    groups, datasets (shape, type, layout) and attributes (name, type,
    shape, and value but for the weights), ours adding only vggfeat_*;
 4. tf.keras.models.load_model opens the file (dense_1 holds the head
    file's numbers, the backbone is frozen), and its predict() on the
    held-out faces and 8 LFW images (when --shared holds lfw-dev), each
    loaded by load_img and preprocessed as the model's Keras code does:
    equal, bit for bit, to the predictions of the seed's model of step 3
    given the weights file and head.h5 by load_weights (the file is that
    model); then against predict, stage by stage (docs/fidelity.md, "The
    whole-model file"):
    - the vector: a sub-model of the loaded file to fc2 (VGG-Face: fc7
      after its ReLU) against ours (extract and featdb export of the same
      images: the forward predict runs), within 1e-5 x max |vector| on
      every image;
    - the head: head.h5's numbers in float64 on Keras' own vector against
      Keras' probabilities, within 1e-6; and on our vector against
      predict's (printed with 6 decimals; predict runs head.h5 in double),
      within 1e-6 on every image;
    - the probabilities: predict's against load_model's within 1e-5;
    Keras' head and the probabilities on every image whose logits are
    well-conditioned:
    kappa = 2 max_k p_k (1 - p_k) x G x max |vector| <= 1, G the product
    over the head's layers of max_k ||kernel[:, k]||_1, so that a vector
    within 1e-5 x max |vector| moves no probability by more than 1e-5
    (|dp_k| <= 2 p_k (1 - p_k) max |dlogit| to first order, |dlogit| <= G
    max |dvector|, ReLU moving nothing further).
    Elsewhere a probability amplifies the vector's float32 rounding past
    1e-5 (random weights give logits of -90 to 150): there the
    probabilities may differ by more than 1e-5 only by the vector's
    difference carried through the head in float64 (printed beside its
    first-order estimate and the bound), plus Keras' own float32 head
    there (measured, not ours to hold) and 1e-6, our head's limit; and the
    same top-1 is required of every image;
    and, reported beside them (not checked), the exact model: the vector
    in float64 (tests/ref/keras_ref.py --inputs, PyTorch in float64 on
    the same preprocessed images, run by Debian's python3 with
    python3-torch; left out, and said so, without it) and head.h5 in
    float64 on it; how far Keras' vector and probabilities are from it,
    and ours: which of the two float32 implementations the gap between
    them comes from;
 5. Keras 3 (the keras package TensorFlow 2.21 installs beside tf-keras)
    is given the same file with keras.saving.load_model, in a process of
    its own: its predictions against predict's when it loads, its error
    when it does not.  Reported; Keras 3 is not the seed's library, so
    neither outcome fails the run.
Ends with "N passed, N failed".
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import h5py  # noqa: E402
import numpy as np  # noqa: E402

TOL = 1e-5       # the probabilities, where the logits are well-conditioned
TOL_VEC = 1e-5   # the vector, relative to its largest value
TOL_HEAD = 1e-6  # the head on a given vector against head.h5 in float64
# The layer whose output is the vector: VGG16's fc2, VGG-Face's fc7 after
# its ReLU (keras-vggface's separate Activation layer).
VECTOR = {"vgg16": "fc2", "vggface": "fc7/relu"}
# The means each model's Keras code subtracts after flipping RGB to BGR:
# keras.applications.vgg16.preprocess_input, and
# keras_vggface.utils.preprocess_input(version=1).
MEANS = {"vgg16": (103.939, 116.779, 123.68), "vggface": (93.5940, 104.7624, 129.1863)}


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("%s exited %d:\n%s%s" % (" ".join(cmd), p.returncode,
                                                   p.stdout, p.stderr))
    return p.stdout + p.stderr


# ---- the seed's model, built by tf-keras -----------------------------------

def vggface_vgg16(tf):
    """keras-vggface's VGG16(include_top=True), as its models.py builds it."""
    L = tf.keras.layers
    img = L.Input(shape=(224, 224, 3))
    x = img
    for block, (n, filters) in enumerate([(2, 64), (2, 128), (3, 256), (3, 512),
                                          (3, 512)], 1):
        for i in range(1, n + 1):
            x = L.Conv2D(filters, (3, 3), activation="relu", padding="same",
                         name="conv%d_%d" % (block, i))(x)
        x = L.MaxPooling2D((2, 2), strides=(2, 2), name="pool%d" % block)(x)
    x = L.Flatten(name="flatten")(x)
    x = L.Dense(4096, name="fc6")(x)
    x = L.Activation("relu", name="fc6/relu")(x)
    x = L.Dense(4096, name="fc7")(x)
    x = L.Activation("relu", name="fc7/relu")(x)
    x = L.Dense(2622, name="fc8")(x)
    x = L.Activation("softmax", name="fc8/softmax")(x)
    return tf.keras.Model(img, x, name="vggface_vgg16")


def seed_model(tf, model, K, hidden=0):
    """The seed's Sequential: the backbone's layers up to its vector,
    frozen, then Dense(K, softmax) (after Dense(hidden, relu), named as
    train-head's head file names them, when hidden is set)."""
    tf.keras.backend.clear_session()
    if model == "vgg16":
        vgg, top = tf.keras.applications.VGG16(weights=None), 1  # predictions
    else:
        vgg, top = vggface_vgg16(tf), 2  # fc8, fc8/softmax
    m = tf.keras.Sequential(name="sequential_1")
    for layer in vgg.layers[:-top]:
        m.add(layer)
    for layer in m.layers:
        layer.trainable = False
    if hidden:
        m.add(tf.keras.layers.Dense(hidden, activation="relu", name="dense_1"))
    m.add(tf.keras.layers.Dense(K, activation="softmax",
                                name="dense_2" if hidden else "dense_1"))
    return m


# ---- the file's structure --------------------------------------------------

def attr_kind(obj, name):
    """An attribute's type and shape, as HDF5 stores them."""
    a = obj.attrs.get_id(name)
    t, sp = a.get_type(), a.get_space()
    kind = [type(t).__name__, sp.shape]
    if isinstance(t, h5py.h5t.TypeStringID):
        kind += [t.is_variable_str(), t.get_cset()]
    else:
        kind += [t.get_size()]
    return kind


def structure(path):
    """Every object of the file: its kind, datasets' shape, type and
    layout, and its attributes' kinds and values (bytes decoded)."""
    out = {}
    with h5py.File(path, "r") as f:
        def describe(name, obj):
            d = {"attrs": {}}
            for k in obj.attrs:
                v = obj.attrs[k]
                if isinstance(v, np.ndarray):
                    v = [x.decode() if isinstance(x, bytes) else x for x in v.tolist()]
                elif isinstance(v, bytes):
                    v = v.decode()
                d["attrs"][k] = (attr_kind(obj, k), v)
            if isinstance(obj, h5py.Dataset):
                d["dataset"] = (obj.shape, str(obj.dtype),
                                obj.id.get_create_plist().get_layout())
            out[name] = d
        describe("/", f)
        f.visititems(describe)
    return out


def compare_structure(ours, ref):
    """The differences between our file and tf-keras' (vggfeat_* aside)."""
    problems = []
    for name in sorted(set(ours) | set(ref)):
        if name not in ours or name not in ref:
            problems.append("%s: only in %s" % (name, "ours" if name in ours else "tf-keras'"))
            continue
        a, b = ours[name], ref[name]
        if a.get("dataset") != b.get("dataset"):
            problems.append("%s: dataset %s, tf-keras' %s" % (name, a.get("dataset"),
                                                              b.get("dataset")))
        keys = {k for k in a["attrs"] if not (name == "/" and k.startswith("vggfeat_"))}
        if keys != set(b["attrs"]):
            problems.append("%s: attributes %s, tf-keras' %s" % (name, sorted(keys),
                                                                 sorted(b["attrs"])))
        for k in keys & set(b["attrs"]):
            if a["attrs"][k] != b["attrs"][k]:
                problems.append("%s: attribute %s is %r, tf-keras' %r"
                                % (name, k, a["attrs"][k], b["attrs"][k]))
    return problems


# ---- images and probabilities ----------------------------------------------

def load_images(tf, paths, model):
    """load_img at 224 x 224 (nearest), RGB to BGR, minus the model's means."""
    x = np.stack([tf.keras.utils.img_to_array(
        tf.keras.utils.load_img(p, target_size=(224, 224))) for p in paths])
    return (x[..., ::-1] - np.array(MEANS[model], np.float32)).astype(np.float32)


def predict_probs(a, head, weights, paths, classes):
    """bin/predict's probability of every class, (images, K) in class order."""
    out = run([os.path.join(a.bin, "predict"), "--head", head, "--weights", weights,
               "--top-k", str(len(classes)), "-q"] + paths)
    probs = {}
    for line in out.splitlines():
        path, rank, name, prob = line.split("\t")
        probs.setdefault(path, {})[name] = float(prob)
    return np.array([[probs[p][c] for c in classes] for p in paths])


def our_vectors(a, weights, images, d, layer=None):
    """Our vector of each image at layer (extract --layer; None: the
    model's default, fc2 or VGG-Face's fc7), (images, D) float32, on
    a.conv's path: extract over a copy of the images in d (one
    folder each, so every key is known) and featdb export; extract runs the
    same forward as predict, whatever the batch.  (fc2_error_budget.py
    takes its three taps from here too.)"""
    src, db, h5 = (os.path.join(d, n) for n in ("evaluated", "evaluated.lmdb",
                                                "evaluated.h5"))
    keys = []
    for i, path in enumerate(images):
        folder = os.path.join(src, "i%02d" % i)
        os.makedirs(folder)
        shutil.copyfile(path, os.path.join(folder, os.path.basename(path)))
        keys.append("i%02d/%s" % (i, os.path.basename(path)))
    run([os.path.join(a.bin, "extract"), "--in", src, "--db", db, "--weights", weights,
         "--conv", a.conv, "-q"] + (["--layer", layer] if layer else []))
    run([os.path.join(a.bin, "featdb"), "export", db, "--out", h5])
    with h5py.File(h5, "r") as f:
        stored = [k.decode() if isinstance(k, bytes) else k for k in f["keys"][:]]
        features = f["features"][:]
    return np.stack([features[stored.index(k)] for k in keys])


def head64(vectors, layers):
    """head.h5's Dense layers in float64 (ReLU between them, softmax after
    the last): (logits, probabilities, the ReLU masks of the hidden ones)."""
    z, masks = vectors.astype(np.float64), []
    for i, (kernel, bias) in enumerate(layers):
        z = z @ kernel.astype(np.float64) + bias
        if i < len(layers) - 1:
            masks.append(z > 0)
            z = np.maximum(z, 0)
    e = np.exp(z - z.max(1, keepdims=True))
    return z, e / e.sum(1, keepdims=True), masks


def head_gain(layers):
    """A bound on how far the head moves a logit per unit of max |dvector|:
    the product over its layers of the largest column's 1-norm (ReLU moves
    nothing further)."""
    return float(np.prod([np.abs(k.astype(np.float64)).sum(0).max() for k, _ in layers]))


def head_dlogits(dv, layers, masks):
    """The logits' first-order change for a change dv of the vector: the
    layers' kernels, each hidden one's ReLU mask between them."""
    for i, (kernel, _) in enumerate(layers):
        dv = dv @ kernel.astype(np.float64)
        if i < len(layers) - 1:
            dv = dv * masks[i]
    return dv


def check_stages(layer, images, f_keras, f_ours, p_keras, p_ours, layers):
    """The vector, the head and the probabilities, each against Keras at
    its own tolerance (the module's docstring); prints the figures and
    returns the failures."""
    failures = []
    name = [os.path.join(*p.split(os.sep)[-2:]) for p in images]
    top = np.abs(f_keras).max(1).astype(np.float64)
    rel = np.abs(f_keras.astype(np.float64) - f_ours).max(1) / top
    i = int(rel.argmax())
    print("  the vector: Keras' (the loaded file's sub-model to %s) against ours "
          "(extract): max |difference| / max |vector| %.3g (limit %g), on %s"
          % (layer, rel[i], TOL_VEC, name[i]))
    failures += ["the vector of %s differs by %.3g x its largest value" % (name[j], rel[j])
                 for j in np.flatnonzero(~(rel <= TOL_VEC))]

    _, h_keras, masks = head64(f_keras, layers)
    _, h_ours, _ = head64(f_ours, layers)
    c = (h_keras * (1 - h_keras)).max(1)
    gain = head_gain(layers)
    kappa = 2 * c * gain * top
    good = kappa <= 1
    head_k = np.abs(p_keras - h_keras).max(1)
    head_o = np.abs(p_ours - h_ours).max(1)
    whole = np.abs(p_keras - p_ours).max(1)
    print("  well-conditioned logits (kappa <= 1): %d of %d images (kappa from %.2g to "
          "%.2g)" % (good.sum(), len(images), kappa.min(), kappa.max()))
    print("  the head (head.h5 in float64) on each one's own vector: Keras' "
          "probabilities %.3g, predict's %.3g where well-conditioned (limit %g); %.3g "
          "and %.3g on all" % (head_k[good].max(initial=0), head_o[good].max(initial=0),
                               TOL_HEAD, head_k.max(), head_o.max()))
    # predict runs head.h5 in double (head_probabilities): its probabilities
    # are within the printing's 5e-7 of it on every image; Keras' float32
    # head is held to TOL_HEAD where the logits are well-conditioned.
    failures += ["Keras' probabilities of %s are %.3g from head.h5 on its vector"
                 % (name[j], head_k[j]) for j in np.flatnonzero(good & ~(head_k <= TOL_HEAD))]
    failures += ["predict's probabilities of %s are %.3g from head.h5 on its vector"
                 % (name[j], head_o[j]) for j in np.flatnonzero(~(head_o <= TOL_HEAD))]
    # The fc2 difference carried through the head in float64, its first-order
    # estimate p (dl - p.dl) with dl = kernel^T dvector, and the bound.
    dv = f_keras.astype(np.float64) - f_ours
    carried = np.abs(h_keras - h_ours).max(1)
    dl = head_dlogits(dv, layers, masks)
    first = np.abs(h_keras * (dl - (h_keras * dl).sum(1, keepdims=True))).max(1)
    bound = 2 * c * gain * np.abs(dv).max(1)
    j = int(whole.argmax())
    print("  the probabilities: max |difference| %.3g where well-conditioned (limit %g); "
          "%.3g on all, on %s (kappa %.3g), where the vector's difference carried "
          "through the head in float64 gives %.3g (first order %.3g, bound %.3g), "
          "Keras' head %.3g and predict's %.3g from float64"
          % (whole[good].max(initial=0), TOL, whole[j], name[j], kappa[j], carried[j],
             first[j], bound[j], head_k[j], head_o[j]))
    # Where a probability amplifies the vector's rounding, it may pass 1e-5
    # by what the vector's difference (within its own limit) carries through
    # the head, by Keras' own float32 head there (measured: not ours), and
    # by no more than our head's limit besides.
    limit = np.where(good, TOL, np.maximum(TOL, carried + head_k + TOL_HEAD))
    failures += ["probabilities of %s differ by %.3g (limit %.3g): predict %s, Keras %s"
                 % (name[k], whole[k], limit[k], p_ours[k], p_keras[k])
                 for k in np.flatnonzero(~(whole <= limit))]
    if not (p_keras.argmax(1) == p_ours.argmax(1)).all():
        failures.append("a different top-1")
    return failures


def exact_stage(a, weights, model, x, images, f_keras, f_ours, p_keras, p_ours,
                layers):
    """Keras and predict each against the exact model (the vector in
    float64 by tests/ref/keras_ref.py, head.h5 in float64 on it): printed,
    not checked."""
    d = tempfile.mkdtemp(prefix="exact.", dir=a.work_dir)
    x_path, out = os.path.join(d, "x.npy"), os.path.join(d, "f64.npy")
    np.save(x_path, x)
    ref = os.path.join(os.path.dirname(os.path.abspath(__file__)), "keras_ref.py")
    cmd = ["/usr/bin/python3", ref] + (["--model", "vggface"] if model == "vggface" else [])
    p = subprocess.run(cmd + ["--inputs", weights, x_path, out], capture_output=True,
                       text=True)
    if p.returncode != 0:
        print("  the exact model: left out (tests/ref/keras_ref.py needs Debian's "
              "python3 with python3-torch): %s" % (p.stderr.strip().splitlines() or ["?"])[-1])
        shutil.rmtree(d, ignore_errors=True)
        return
    f64 = np.load(out)
    shutil.rmtree(d, ignore_errors=True)
    _, p64, _ = head64(f64, layers)
    top = np.abs(f64).max(1)
    vk = (np.abs(f_keras - f64).max(1) / top).max()
    vo = (np.abs(f_ours - f64).max(1) / top).max()
    pk, po = np.abs(p_keras - p64).max(1), np.abs(p_ours - p64).max(1)
    j = int(po.argmax())
    name = os.path.join(*images[j].split(os.sep)[-2:])
    print("  the exact model (the vector in float64, tests/ref/keras_ref.py; head.h5 in "
          "float64), reported: the vector, max |difference| / max |vector|: Keras' %.3g, "
          "ours %.3g; the probabilities, max |difference|: load_model's %.3g, predict's "
          "%.3g (on %s, where load_model's is %.3g); images within 1e-5 of it: "
          "load_model's %d, predict's %d of %d"
          % (vk, vo, pk.max(), po.max(), name, pk[j], (pk <= 1e-5).sum(),
             (po <= 1e-5).sum(), len(images)))


def keras3_child(model_path, x_path, out_path):
    """--keras3: Keras 3's loader on the file; writes its predictions, or
    the error, to out_path (JSON)."""
    os.environ.pop("TF_USE_LEGACY_KERAS", None)
    import keras
    try:
        m = keras.saving.load_model(model_path)
        p = m.predict(np.load(x_path), verbose=0)
        res = {"keras": keras.__version__, "loaded": True, "p": p.tolist(),
               "layers": [layer.name for layer in m.layers]}
    except Exception as e:  # what Keras 3 says is the finding
        res = {"keras": keras.__version__, "loaded": False,
               "error": "%s: %s" % (type(e).__name__, str(e).strip().splitlines()[-1])}
    with open(out_path, "w") as f:
        json.dump(res, f)


# ---- one backbone ----------------------------------------------------------

def check_backbone(a, tf, model, work, hidden=0):
    d = os.path.join(work, model + ("_hidden%d" % hidden if hidden else ""))
    os.makedirs(d)
    weights = a.weights
    if model == "vggface":
        weights = os.path.join(d, "vggface_seed1.h5")
        run([os.path.join(a.tools, "gen_weights"), "--seed", "1", "--layout", "vggface",
             "--out", weights])
    faces, held = os.path.join(d, "faces"), os.path.join(d, "held")
    run([os.path.join(a.tools, "gen_faces"), "--out", faces, "--people", "4",
         "--images", "10", "--seed", "5"])
    images = []
    for person in sorted(os.listdir(faces)):
        os.makedirs(os.path.join(held, person))
        for name in sorted(os.listdir(os.path.join(faces, person)))[-2:]:
            shutil.move(os.path.join(faces, person, name), os.path.join(held, person, name))
            images.append(os.path.join(held, person, name))
    lfw = os.path.join(a.shared, "lfw-dev")
    if os.path.isdir(lfw):
        for person in sorted(os.listdir(lfw))[:8]:
            images.append(os.path.join(lfw, person, sorted(os.listdir(
                os.path.join(lfw, person)))[0]))
    db, head = os.path.join(d, "feats.lmdb"), os.path.join(d, "head.h5")
    run([os.path.join(a.bin, "extract"), "--in", faces, "--db", db, "--weights", weights,
         "--conv", a.conv, "-q"])
    run([os.path.join(a.bin, "train-head"), "--db", db, "--epochs", "3", "--out", head,
         "--val-split", "0", "-q"] + (["--hidden", str(hidden)] if hidden else []))
    mfile = os.path.join(d, "face_model.h5")
    print(run([os.path.join(a.bin, "predict"), "--head", head, "--weights", weights,
               "--save-model", mfile]).strip())
    with h5py.File(head, "r") as f:
        classes = [c.decode() for c in f.attrs["vggfeat_classes"]]
        dense = {n.decode(): (f[n][n]["kernel:0"][:], f[n][n]["bias:0"][:])
                 for n in f.attrs["layer_names"]}
    K = len(classes)

    # 3. the layout and model_config against tf-keras' own model.save.
    ref = os.path.join(d, "tf_keras_seed.h5")
    seed = seed_model(tf, model, K, hidden)
    seed.save(ref)
    with h5py.File(mfile, "r") as f, h5py.File(ref, "r") as g:
        ours_cfg, ref_cfg = f.attrs["model_config"], g.attrs["model_config"]
        assert [c for c in f.attrs["vggfeat_classes"]] == classes, "vggfeat_classes"
    if ours_cfg != ref_cfg:
        o, r = json.loads(ours_cfg), json.loads(ref_cfg)
        for lo, lr in zip(o["config"]["layers"], r["config"]["layers"]):
            if lo != lr:
                raise AssertionError("model_config differs at\n ours %s\n tf-keras' %s"
                                     % (lo, lr))
        raise AssertionError("model_config differs:\n%s\n%s" % (ours_cfg, ref_cfg))
    print("  model_config: tf-keras' own, byte for byte (%d bytes, %d layers)"
          % (len(ours_cfg), len(json.loads(ours_cfg)["config"]["layers"])))
    problems = compare_structure(structure(mfile), structure(ref))
    if problems:
        raise AssertionError("the layout differs from tf-keras':\n  " + "\n  ".join(problems))
    print("  layout: tf-keras' (%d objects, attributes and their types), plus vggfeat_*"
          % len(structure(ref)))
    os.unlink(ref)

    # 4. load_model: the seed's model with the weights file's numbers and
    # head.h5's, so the same predictions as the seed's model given those
    # files by load_weights; and predict's within TOL.
    x = load_images(tf, images, model)
    seed.load_weights(weights, by_name=True)
    seed.load_weights(head, by_name=True)
    p_seed = seed.predict(x, verbose=0)
    m = tf.keras.models.load_model(mfile)
    for name, (kernel, bias) in dense.items():
        k, b = m.get_layer(name).get_weights()
        assert np.array_equal(k, kernel) and np.array_equal(b, bias), \
            "%s is not head.h5's" % name
    nh = len(dense)
    assert all(not layer.trainable for layer in m.layers[:-nh])
    assert all(layer.trainable for layer in m.layers[-nh:])
    p_keras = m.predict(x, verbose=0)
    same = float(np.max(np.abs(p_keras.astype(np.float64) - p_seed)))
    print("  load_model(...).predict against the seed's model given the weights file and "
          "head.h5 by load_weights: max |difference| %.3g" % same)
    assert np.array_equal(p_keras, p_seed), "not the seed's model with those weights"
    p_keras = p_keras.astype(np.float64)
    p_ours = predict_probs(a, head, weights, images, classes)
    # Keras' own answer moves with the batch (TensorFlow's float32 kernels
    # differ with it): the same images one at a time, for scale.
    p_one = np.concatenate([m.predict(x[i:i + 1], verbose=0) for i in range(len(x))])
    print("  Keras itself, one image at a time against the batch of %d: max |difference| "
          "%.3g" % (len(x), float(np.max(np.abs(p_one - p_keras)))))
    diff = float(np.max(np.abs(p_keras - p_ours)))
    print("  load_model(...).predict on %d images against predict: max |difference| "
          "%.3g; top-1 from %.3f to %.3f" % (len(images), diff, p_ours.max(1).min(),
                                             p_ours.max(1).max()))
    # The stages: Keras' vector from the loaded file itself, which its
    # dense_1 turns into exactly load_model's probabilities.
    f_keras = tf.keras.Model(m.inputs, m.get_layer(VECTOR[model]).output).predict(
        x, verbose=0)
    again = tf.constant(f_keras)
    for name in dense:
        again = m.get_layer(name)(again)
    assert np.array_equal(again.numpy(), p_keras), \
        "the Dense layers on the sub-model's vector are not predict()"
    f_ours = our_vectors(a, weights, images, d)
    failures = check_stages(VECTOR[model], images, f_keras, f_ours, p_keras, p_ours,
                            list(dense.values()))
    exact_stage(a, weights, model, x, images, f_keras, f_ours, p_keras, p_ours,
                list(dense.values()))
    failure = "; ".join(failures) if failures else None
    del m, seed

    # 5. Keras 3.
    x_path, k3 = os.path.join(d, "x.npy"), os.path.join(d, "keras3.json")
    np.save(x_path, x)
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    subprocess.run([sys.executable, os.path.abspath(__file__), "--keras3", mfile, x_path,
                    k3], env=env, check=True)
    r = json.load(open(k3))
    if r["loaded"]:
        d3 = float(np.max(np.abs(np.array(r["p"]) - p_ours)))
        print("  Keras %s: load_model reads it; predict against predict: max |difference| "
              "%.3g" % (r["keras"], d3))
    else:
        print("  Keras %s: load_model refuses it: %s" % (r["keras"], r["error"]))
    if failure:
        raise AssertionError(failure)
    return diff


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default="bin")
    ap.add_argument("--tools", default="build/demo")
    ap.add_argument("--weights")
    ap.add_argument("--shared", default=os.environ.get("SHARED_DATA", "../shared/data"))
    ap.add_argument("--work", help="a folder to work in (default: a new temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    ap.add_argument("--conv", default="winograd", choices=("winograd", "direct"),
                    help="extract's --conv for the store and the vectors (predict "
                         "follows the head's; default winograd)")
    ap.add_argument("--keras3", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.keras3:
        return keras3_child(*a.keras3)
    if not a.weights:
        ap.error("--weights is required")
    for name in ("bin", "tools", "weights", "shared"):
        setattr(a, name, os.path.abspath(getattr(a, name)))

    import tensorflow as tf
    import tf_keras
    print("tf-keras %s, TensorFlow %s, h5py %s; extract --conv %s"
          % (tf_keras.__version__, tf.__version__, h5py.__version__, a.conv))
    work = a.work or tempfile.mkdtemp(prefix="keras_model.")
    os.makedirs(work, exist_ok=True)
    a.work_dir = work
    passed = failed = 0
    try:
        for model, hidden in (("vgg16", 0), ("vggface", 0), ("vgg16", 16)):
            name = model + (" with a hidden Dense(%d, relu)" % hidden if hidden else "")
            print("== %s" % name, flush=True)
            try:
                check_backbone(a, tf, model, work, hidden)
                passed += 1
                print("== %s: ok" % name)
            except (AssertionError, RuntimeError) as e:
                failed += 1
                print("== %s: FAILED: %s" % (name, e))
    finally:
        if a.keep or a.work:
            print("work folder kept: " + work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
