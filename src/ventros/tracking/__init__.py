"""Tracking: where a lead came from (ad, click id, UTM, referrer), and attribution reports."""
