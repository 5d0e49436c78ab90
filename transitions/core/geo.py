"""Great-circle distances between ZIP centroids (one pair, or one point to many with numpy) and search boxes."""

import math

import numpy as np

EARTH_RADIUS_MILES = 3958.7613
MILES_PER_DEGREE_LATITUDE = 69.0


def distance_miles(lat1, lon1, lat2, lon2):
    """Great-circle distance between two points, in miles."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_MILES * math.asin(min(1.0, math.sqrt(a)))


def distances_miles(latitude, longitude, latitudes, longitudes):
    """distance_miles from one point to many (numpy arrays), vectorized."""
    phi1, phi2 = np.radians(latitude), np.radians(latitudes)
    dphi, dlambda = phi2 - phi1, np.radians(longitudes - longitude)
    a = np.sin(dphi / 2) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_MILES * np.arcsin(np.minimum(1.0, np.sqrt(a)))


def bounding_box(latitude, longitude, miles):
    """A lat/lon box that surely contains the circle of `miles` around the point (never too small)."""
    dlat = miles / MILES_PER_DEGREE_LATITUDE + 0.01
    widest = min(89.0, abs(latitude) + dlat)
    dlon = miles / (MILES_PER_DEGREE_LATITUDE * math.cos(math.radians(widest))) + 0.01
    return latitude - dlat, latitude + dlat, longitude - dlon, longitude + dlon
